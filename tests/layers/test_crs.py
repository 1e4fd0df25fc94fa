import warnings

import numpy as np
import pytest
from pyproj import Transformer

from layers import crs

EARTH_RADIUS_M = 6371008.8


def haversine_m(lon1, lat1, lon2, lat2):
    """Return the great-circle distance in metres between lon/lat points."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, float)) for v in (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


# Published WGS84 -> GCJ-02 pairs, as (wgs_lon, wgs_lat, gcj_lon, gcj_lat).
WGS_GCJ_PAIRS = [
    # AMap's own Web Service "coordinate convert" documentation: request
    # locations=116.481499,39.990475|116.481499,39.990375&coordsys=gps
    # (https://lbs.amap.com/api/webservice/guide/api/convert/), response
    # "116.487585177952,39.991754014757;116.487585177952,39.991653917101" as
    # published in the AMap API reference mirrored at
    # https://apifox.com/apidoc/project-759159/api-14671355. These come from
    # AMap's server, not from the open-source algorithm.
    pytest.param(116.481499, 39.990475, 116.487585177952, 39.991754014757, id="amap-doc-1"),
    pytest.param(116.481499, 39.990375, 116.487585177952, 39.991653917101, id="amap-doc-2"),
    # googollee/eviltransform, python/test.py, TESTS (given there as lat, lng).
    pytest.param(121.5272106, 31.1774276, 121.531541859215, 31.17530398364597, id="shanghai"),
    pytest.param(113.912316, 22.543847, 113.9171764808363, 22.540796131694766, id="shenzhen"),
    pytest.param(116.377817, 39.911954, 116.38404722455657, 39.91334545536069, id="beijing"),
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915).
    pytest.param(116.404, 39.915, 116.41024449916938, 39.91640428150164, id="coordtransform"),
]

# Published GCJ-02 -> BD-09 pairs, as (gcj_lon, gcj_lat, bd_lon, bd_lat).
GCJ_BD_PAIRS = [
    # wandergis/coordtransform, test/app.js: gcj02tobd09(116.404, 39.915).
    pytest.param(116.404, 39.915, 116.41036949371029, 39.92133699351021, id="coordtransform"),
    # wandergis/coordtransform, test/app.js: bd09togcj02(116.404, 39.915).
    pytest.param(116.39762729119315, 39.90865673957631, 116.404, 39.915, id="coordtransform-inv"),
    # Alibaba Cloud address purification, TransferCoord example response
    # (https://help.aliyun.com/zh/address-purification/addrpapi/
    # developer-reference/coordinate-system-conversion): GCJ02
    # "120.026268,30.279164" -> BD09 "120.032768,30.285238".
    pytest.param(120.026268, 30.279164, 120.032768, 30.285238, id="aliyun"),
]

# A grid of points over Kunming's main urban area and Xishan district.
KUNMING_LON, KUNMING_LAT = np.meshgrid(np.linspace(102.2, 103.0, 41), np.linspace(24.6, 25.3, 36))


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("wgs_lon, wgs_lat, gcj_lon, gcj_lat", WGS_GCJ_PAIRS)
def test_wgs84_to_gcj02_matches_published_points(wgs_lon, wgs_lat, gcj_lon, gcj_lat):
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert haversine_m(lon, lat, gcj_lon, gcj_lat) < 1.0


@pytest.mark.parametrize("wgs_lon, wgs_lat, gcj_lon, gcj_lat", WGS_GCJ_PAIRS)
def test_gcj02_to_wgs84_matches_published_points(wgs_lon, wgs_lat, gcj_lon, gcj_lat):
    lon, lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert haversine_m(lon, lat, wgs_lon, wgs_lat) < 1.0


@pytest.mark.parametrize("gcj_lon, gcj_lat, bd_lon, bd_lat", GCJ_BD_PAIRS)
def test_gcj02_to_bd09_matches_published_points(gcj_lon, gcj_lat, bd_lon, bd_lat):
    lon, lat = crs.gcj02_to_bd09(gcj_lon, gcj_lat)
    assert haversine_m(lon, lat, bd_lon, bd_lat) < 1.0


@pytest.mark.parametrize("gcj_lon, gcj_lat, bd_lon, bd_lat", GCJ_BD_PAIRS)
def test_bd09_to_gcj02_matches_published_points(gcj_lon, gcj_lat, bd_lon, bd_lat):
    lon, lat = crs.bd09_to_gcj02(bd_lon, bd_lat)
    assert haversine_m(lon, lat, gcj_lon, gcj_lat) < 1.0


@pytest.mark.parametrize("wgs_lon, wgs_lat, gcj_lon, gcj_lat", WGS_GCJ_PAIRS)
def test_bd09_round_trip_of_published_points(wgs_lon, wgs_lat, gcj_lon, gcj_lat):
    bd_lon, bd_lat = crs.wgs84_to_bd09(wgs_lon, wgs_lat)
    # BD-09 of the WGS84 point is BD-09 of its published GCJ-02 twin.
    expected_bd = crs.gcj02_to_bd09(gcj_lon, gcj_lat)
    assert haversine_m(bd_lon, bd_lat, *expected_bd) < 1.0
    lon, lat = crs.bd09_to_wgs84(bd_lon, bd_lat)
    assert haversine_m(lon, lat, wgs_lon, wgs_lat) < 0.01


def test_gcj02_inverse_is_exact_where_one_step_inverse_is_metres_off():
    # Alibaba Cloud publishes GCJ02 "120.026268,30.279164" -> WGS84
    # "120.021519,30.281543" (same page as above). That is the common
    # one-step inverse: mapped forward again it misses the GCJ-02 point by
    # metres. The iterative inverse maps back onto it.
    gcj = (120.026268, 30.279164)
    aliyun_wgs = (120.021519, 30.281543)
    one_step_error = haversine_m(*crs.wgs84_to_gcj02(*aliyun_wgs), *gcj)
    assert 1.0 < one_step_error < 3.0
    ours = crs.gcj02_to_wgs84(*gcj)
    assert haversine_m(*ours, *aliyun_wgs) < 3.0
    assert haversine_m(*crs.wgs84_to_gcj02(*ours), *gcj) < 0.001


def test_wgs84_gcj02_round_trip_within_a_centimetre_in_kunming():
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(KUNMING_LON, KUNMING_LAT)
    lon, lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert haversine_m(lon, lat, KUNMING_LON, KUNMING_LAT).max() < 0.01


def test_gcj02_wgs84_round_trip_within_a_centimetre_in_kunming():
    wgs_lon, wgs_lat = crs.gcj02_to_wgs84(KUNMING_LON, KUNMING_LAT)
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert haversine_m(lon, lat, KUNMING_LON, KUNMING_LAT).max() < 0.01


def test_wgs84_bd09_round_trip_within_a_centimetre_in_kunming():
    bd_lon, bd_lat = crs.wgs84_to_bd09(KUNMING_LON, KUNMING_LAT)
    lon, lat = crs.bd09_to_wgs84(bd_lon, bd_lat)
    assert haversine_m(lon, lat, KUNMING_LON, KUNMING_LAT).max() < 0.01


def test_offsets_in_kunming_are_hundreds_of_metres():
    # A sanity check that matters for grids: the offsets are big enough to
    # put an unconverted point in the wrong grid.
    gcj_offset = haversine_m(
        *crs.wgs84_to_gcj02(KUNMING_LON, KUNMING_LAT), KUNMING_LON, KUNMING_LAT
    )
    bd_offset = haversine_m(*crs.wgs84_to_bd09(KUNMING_LON, KUNMING_LAT), KUNMING_LON, KUNMING_LAT)
    assert 200 < gcj_offset.min() and gcj_offset.max() < 800
    assert 500 < bd_offset.min() and bd_offset.max() < 1500


@pytest.mark.parametrize(
    "lon, lat",
    [
        pytest.param(-0.1276, 51.5072, id="london"),
        pytest.param(139.6917, 35.6895, id="tokyo"),
        pytest.param(-122.4194, 37.7749, id="san-francisco"),
        pytest.param(0.0, 0.0, id="null-island"),
        pytest.param(100.5, -6.2, id="south-of-box"),
    ],
)
def test_gcj02_passes_points_outside_china_through(lon, lat):
    assert crs.out_of_china(lon, lat)
    assert crs.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert crs.gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_out_of_china_is_the_published_rough_box():
    # The published test is a rectangle, not China's border: Seoul is
    # "inside" and gets shifted, as in every implementation of the algorithm.
    lon = [72.004, 137.8347, 71.9, 137.9, 126.978, 102.7]
    lat = [0.8293, 55.8271, 25.0, 25.0, 37.5665, 25.0]
    expected = [False, False, True, True, False, False]
    assert crs.out_of_china(lon, lat).tolist() == expected


def test_conversions_are_vectorised_and_keep_the_shape(no_warnings):
    lon = KUNMING_LON[:3, :4]
    lat = KUNMING_LAT[:3, :4]
    for convert in (
        crs.wgs84_to_gcj02,
        crs.gcj02_to_wgs84,
        crs.gcj02_to_bd09,
        crs.bd09_to_gcj02,
        crs.wgs84_to_bd09,
        crs.bd09_to_wgs84,
        crs.webmercator_to_wgs84,
        crs.wgs84_to_webmercator,
    ):
        new_lon, new_lat = convert(lon, lat)
        assert new_lon.shape == new_lat.shape == (3, 4), convert.__name__
        # The same values as converting one point at a time (up to where an
        # iteration stopped: 1e-9 degrees is 0.1 mm).
        one_lon, one_lat = convert(lon[2, 3], lat[2, 3])
        assert np.ndim(one_lon) == np.ndim(one_lat) == 0, convert.__name__
        assert one_lon == pytest.approx(new_lon[2, 3], abs=1e-9), convert.__name__
        assert one_lat == pytest.approx(new_lat[2, 3], abs=1e-9), convert.__name__


def test_conversions_accept_lists_and_broadcast_a_scalar():
    lon, lat = crs.wgs84_to_gcj02([102.70, 102.71, 102.72], 25.0)
    assert lon.shape == lat.shape == (3,)
    assert (lon[1], lat[1]) == crs.wgs84_to_gcj02(102.71, 25.0)


def test_non_finite_input_gives_nan_without_warnings(no_warnings):
    lon = np.array([np.nan, 102.7, np.inf])
    lat = np.array([25.0, np.nan, 25.0])
    for convert in (crs.gcj02_to_wgs84, crs.bd09_to_wgs84, crs.wgs84_to_bd09):
        new_lon, new_lat = convert(lon, lat)
        assert not np.isfinite(new_lon[0]) and not np.isfinite(new_lat[1])
        assert not np.isfinite(new_lon[2])


def test_webmercator_matches_closed_form_and_pyproj():
    x, y = crs.wgs84_to_webmercator([0.0, 180.0, -180.0], [0.0, 0.0, 0.0])
    assert x.tolist() == pytest.approx([0.0, 20037508.342789244, -20037508.342789244])
    assert y.tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    to_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    expected_x, expected_y = to_3857.transform(KUNMING_LON, KUNMING_LAT)
    x, y = crs.wgs84_to_webmercator(KUNMING_LON, KUNMING_LAT)
    np.testing.assert_allclose(x, expected_x, atol=1e-6, rtol=0)
    np.testing.assert_allclose(y, expected_y, atol=1e-6, rtol=0)
    lon, lat = crs.webmercator_to_wgs84(expected_x, expected_y)
    assert haversine_m(lon, lat, KUNMING_LON, KUNMING_LAT).max() < 1e-6


@pytest.mark.parametrize(
    "name, convert",
    [
        ("wgs84", None),
        ("cgcs2000", None),
        ("EPSG:4490", None),
        ("gcj02", crs.gcj02_to_wgs84),
        ("GCJ-02", crs.gcj02_to_wgs84),
        ("bd09", crs.bd09_to_wgs84),
        ("webmercator", crs.webmercator_to_wgs84),
    ],
)
def test_to_storage_converts_every_crs_to_wgs84(name, convert):
    if name.lower() in ("webmercator",):
        lon, lat = crs.wgs84_to_webmercator(KUNMING_LON, KUNMING_LAT)
    else:
        lon, lat = KUNMING_LON, KUNMING_LAT
    new_lon, new_lat = crs.to_storage(lon, lat, name)
    assert isinstance(new_lon, np.ndarray) and isinstance(new_lat, np.ndarray)
    expected = (lon, lat) if convert is None else convert(lon, lat)
    np.testing.assert_array_equal(new_lon, expected[0])
    np.testing.assert_array_equal(new_lat, expected[1])


def test_to_storage_does_not_alias_the_input():
    lon = np.array([102.7, 102.8])
    lat = np.array([25.0, 25.1])
    new_lon, _ = crs.to_storage(lon, lat, "wgs84")
    new_lon[0] = 0.0
    assert lon[0] == 102.7


def test_to_storage_accepts_strings_from_a_form():
    lon, lat = crs.to_storage("102.7", "25.0", "4326")
    assert (float(lon), float(lat)) == (102.7, 25.0)


def test_to_storage_rejects_an_unknown_crs():
    with pytest.raises(crs.CRSError):
        crs.to_storage(102.7, 25.0, "beijing54")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("wgs84", "wgs84"),
        ("WGS84", "wgs84"),
        ("epsg:4326", "wgs84"),
        (" EPSG:4326 ", "wgs84"),
        ("4326", "wgs84"),
        (4326, "wgs84"),
        ("cgcs2000", "cgcs2000"),
        ("CGCS2000", "cgcs2000"),
        ("epsg:4490", "cgcs2000"),
        ("4490", "cgcs2000"),
        ("webmercator", "webmercator"),
        ("web_mercator", "webmercator"),
        ("Web_Mercator", "webmercator"),
        ("epsg:3857", "webmercator"),
        ("3857", "webmercator"),
        ("gcj02", "gcj02"),
        ("gcj-02", "gcj02"),
        ("GCJ-02\n", "gcj02"),
        ("bd09", "bd09"),
        ("bd-09", "bd09"),
        ("BD09", "bd09"),
    ],
)
def test_parse_crs_accepts_the_documented_names(name, expected):
    assert crs.parse_crs(name) == expected


@pytest.mark.parametrize(
    "name", ["xyz", "", "   ", None, "epsg:4214", "gcj 02", "bd09mc", "wgs-84", 3395]
)
def test_parse_crs_rejects_other_names_with_a_bilingual_message(name):
    with pytest.raises(crs.CRSError) as excinfo:
        crs.parse_crs(name)
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    assert "未知的坐标系" in message and "unknown CRS" in message
    assert repr(name) in message
    assert "wgs84, cgcs2000, webmercator, gcj02, bd09" in message


def test_crs_choices_are_the_canonical_names():
    assert crs.CRS_CHOICES == ("wgs84", "cgcs2000", "webmercator", "gcj02", "bd09")
    assert all(crs.parse_crs(name) == name for name in crs.CRS_CHOICES)


def test_parse_float_array_turns_non_numbers_into_nan():
    values = ["", "abc", None, " 1.5 ", "１０２．７", 3, "1e3", float("nan"), "-25"]
    result = crs.parse_float_array(values)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(
        result, [np.nan, np.nan, np.nan, 1.5, 102.7, 3.0, 1000.0, np.nan, -25.0]
    )


def test_parse_float_array_keeps_the_shape():
    assert crs.parse_float_array([["1", ""], ["x", "2"]]).shape == (2, 2)
    assert crs.parse_float_array("").shape == ()
    numbers = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert crs.parse_float_array(numbers).dtype == np.float64


def test_check_coordinates_finds_every_problem_class_in_one_call():
    lon = ["102.70", "", "abc", None, "inf", 0, "200", "102.7", "25.01", "116.40"]
    lat = ["25.03", "25.0", "25.0", "25.0", "25.0", 0, "25.0", "95", "102.68", "39.90"]
    codes = crs.check_coordinates(lon, lat)
    assert codes.tolist() == [
        crs.OK,
        crs.EMPTY,
        crs.EMPTY,
        crs.EMPTY,
        crs.EMPTY,
        crs.ZERO,
        crs.OUT_OF_RANGE,
        crs.OUT_OF_RANGE,
        crs.SWAPPED,
        crs.OUTSIDE_DISTRICT,
    ]


def test_check_coordinates_accepts_numpy_arrays_and_broadcasts():
    lon = np.array([102.70, 102.80, np.nan])
    codes = crs.check_coordinates(lon, 25.0)
    assert codes.tolist() == [crs.OK, crs.OK, crs.EMPTY]


def test_check_coordinates_of_a_single_point_returns_one_code():
    assert crs.check_coordinates(102.7, 25.0) == crs.OK
    assert crs.check_coordinates(25.0, 102.7) == crs.SWAPPED


def test_check_coordinates_includes_the_bbox_edges():
    min_lon, min_lat, max_lon, max_lat = crs.XISHAN_BBOX
    codes = crs.check_coordinates([min_lon, max_lon], [min_lat, max_lat])
    assert codes.tolist() == [crs.OK, crs.OK]
    codes = crs.check_coordinates([min_lon - 1e-6], [min_lat])
    assert codes.tolist() == [crs.OUTSIDE_DISTRICT]


def test_check_coordinates_with_a_custom_bbox():
    bbox = (20.0, 25.0, 30.0, 30.0)
    codes = crs.check_coordinates([28.0, 22.0, 26.0, 50.0], [22.0, 28.0, 26.0, 50.0], bbox)
    assert codes.tolist() == [crs.SWAPPED, crs.OK, crs.OK, crs.OUTSIDE_DISTRICT]


def test_check_coordinates_one_zero_is_not_the_zero_problem():
    codes = crs.check_coordinates([0.0, 102.7], [25.0, 0.0])
    assert codes.tolist() == [crs.OUTSIDE_DISTRICT, crs.OUTSIDE_DISTRICT]


@pytest.mark.parametrize("bbox", [(1, 2, 3), (103, 24, 102, 25), (102, 25, 103, 24)])
def test_check_coordinates_rejects_a_malformed_bbox(bbox):
    with pytest.raises(ValueError):
        crs.check_coordinates(102.7, 25.0, bbox)


def test_xishan_bbox_contains_the_district():
    # Xishan's centre (Majie, Fuhai and Tuanjie streets lie around it).
    min_lon, min_lat, max_lon, max_lat = crs.XISHAN_BBOX
    assert min_lon <= 102.2 and max_lon >= 102.95
    assert min_lat <= 24.6 and max_lat >= 25.25
    assert crs.check_coordinates(102.66, 25.03) == crs.OK


def test_check_coordinates_is_fast_on_a_large_import():
    rng = np.random.default_rng(0)
    lon = rng.uniform(102.0, 103.2, 200_000)
    lat = rng.uniform(24.4, 25.4, 200_000)
    codes = crs.check_coordinates(lon, lat)
    assert codes.shape == (200_000,)
    assert set(np.unique(codes)) <= {crs.OK, crs.OUTSIDE_DISTRICT}


def test_coordinate_messages_are_bilingual():
    codes = crs.check_coordinates([102.7, "", 0, 200, 25.0, 116.4], [25.0, 1, 0, 1, 102.7, 39.9])
    messages = crs.coordinate_messages(codes)
    assert messages.tolist() == [
        "",
        "坐标为空或不是数字 / coordinate is empty or not a number",
        "坐标为 (0,0) / coordinate is (0,0)",
        crs.PROBLEM_MESSAGES[crs.OUT_OF_RANGE],
        "经纬度可能颠倒 / longitude and latitude appear swapped",
        "坐标在辖区范围之外 / coordinate is outside the district",
    ]
    for code, message in crs.PROBLEM_MESSAGES.items():
        if code != crs.OK:
            chinese, english = message.split(" / ")
            assert chinese and english.isascii()
    assert crs.coordinate_messages(crs.SWAPPED) == crs.PROBLEM_MESSAGES[crs.SWAPPED]
