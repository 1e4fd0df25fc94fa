"""
Coordinate reference systems as they come in China, and coordinate checks.

The project stores every geometry in EPSG:4326 (WGS84 longitude/latitude).
Official Chinese data is in CGCS2000 (EPSG:4490); its ellipsoid and frame
differ from WGS84 by centimetres, well below the accuracy of anything a grid
worker's phone or a surveyed grid boundary provides, so CGCS2000 coordinates
are stored as they are, without a datum shift.

Web maps in China do not use either:

* GCJ-02 ("Mars coordinates") is the legally mandated obfuscation used by
  AMap (Gaode), Tencent and WeChat. It shifts points by hundreds of metres,
  enough to put a point in the wrong grid. The forward transform below is the
  published algorithm used by the common open-source libraries
  (eviltransform, coordtransform); it leaves points outside a rough China
  bounding box unchanged, as they do. The inverse is computed by fixed-point
  iteration, so that WGS84 -> GCJ-02 -> WGS84 comes back to well under a
  millimetre, instead of the usual one-step approximation that is off by up
  to a few metres.
* BD-09 is Baidu's further offset on top of GCJ-02. Like the coordtransform
  library, it is applied everywhere (out_of_china only concerns the GCJ-02
  step); its inverse is refined iteratively as well.
* Web Mercator (EPSG:3857) is WGS84 projected to metres, so it only needs the
  closed-form spherical Mercator formulas.

Every conversion accepts scalars or array-likes and returns numpy values of
the broadcast shape of its inputs (a numpy scalar for scalar input).
"""

import unicodedata

import numpy as np

__all__ = [
    "CRS_CHOICES",
    "EMPTY",
    "OK",
    "OUTSIDE_DISTRICT",
    "OUT_OF_RANGE",
    "PROBLEM_MESSAGES",
    "SWAPPED",
    "XISHAN_BBOX",
    "ZERO",
    "CRSError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_coordinates",
    "coordinate_messages",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_crs",
    "parse_float_array",
    "to_storage",
    "webmercator_to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
    "wgs84_to_webmercator",
]

WGS84 = "wgs84"
CGCS2000 = "cgcs2000"
WEBMERCATOR = "webmercator"
GCJ02 = "gcj02"
BD09 = "bd09"

CRS_CHOICES = (WGS84, CGCS2000, WEBMERCATOR, GCJ02, BD09)

_CRS_ALIASES = {
    "wgs84": WGS84,
    "epsg:4326": WGS84,
    "4326": WGS84,
    "cgcs2000": CGCS2000,
    "epsg:4490": CGCS2000,
    "4490": CGCS2000,
    "webmercator": WEBMERCATOR,
    "web_mercator": WEBMERCATOR,
    "epsg:3857": WEBMERCATOR,
    "3857": WEBMERCATOR,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
}

# A generous box around Xishan district, Kunming (minlon, minlat, maxlon,
# maxlat). It only has to catch gross errors (swapped axes, another city,
# a projected coordinate typed as degrees); the precise test is the grid
# polygons themselves.
XISHAN_BBOX = (102.2, 24.6, 102.95, 25.25)

# Constants of the published GCJ-02 algorithm: the Krasovsky 1940 semi-major
# axis and the eccentricity squared it is used with.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# Rough China bounding box of the published out_of_china() test.
_CHINA_MIN_LON, _CHINA_MAX_LON = 72.004, 137.8347
_CHINA_MIN_LAT, _CHINA_MAX_LAT = 0.8293, 55.8271
# Baidu's published BD-09 constants.
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006
# Stop iterating once a step moves less than this (degrees, ~0.01 mm) or
# after this many steps; each step shrinks the error at least ~150-fold, so
# five steps take a 500 m offset down to the tolerance.
_GCJ_INVERSE_TOLERANCE = 1e-10
_GCJ_INVERSE_MAX_STEPS = 20
# Baidu's approximate BD-09 inverse is off by up to ~0.2 m and each
# refinement step shrinks the error about a hundredfold: three steps bring it
# below a micrometre.
_BD_INVERSE_STEPS = 3
# Spherical (Web) Mercator radius, the WGS84 semi-major axis.
_MERCATOR_R = 6378137.0


class CRSError(ValueError):
    """An unknown or unsupported coordinate reference system."""


def parse_crs(name):
    """Return the canonical name of a coordinate reference system."""
    key = str(name).strip().lower() if name is not None else ""
    try:
        return _CRS_ALIASES[key]
    except KeyError:
        choices = ", ".join(CRS_CHOICES)
        raise CRSError(
            f"未知的坐标系 {name!r}，可选：{choices} / "
            f"unknown CRS {name!r}; choose one of {choices}"
        ) from None


def _as_float_arrays(*values):
    """Return the values as broadcast float64 arrays."""
    return np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))


def _unwrap(*arrays):
    """Return numpy scalars for 0-d arrays so scalar input gives scalar output."""
    return tuple(a[()] for a in arrays)


def out_of_china(lon, lat):
    """Return True where GCJ-02 leaves a point unchanged (outside China)."""
    lon, lat = _as_float_arrays(lon, lat)
    outside = (
        (lon < _CHINA_MIN_LON)
        | (lon > _CHINA_MAX_LON)
        | (lat < _CHINA_MIN_LAT)
        | (lat > _CHINA_MAX_LAT)
    )
    return outside[()]


def _gcj02_delta(lon, lat):
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS84 lon/lat."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    # The offsets above are in metres; turn them into degrees on the ellipsoid.
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """Convert WGS84 longitude/latitude to GCJ-02 (AMap, Tencent, WeChat)."""
    lon, lat = _as_float_arrays(lon, lat)
    # Non-finite input gives non-finite output; numpy's warnings would only
    # repeat that.
    with np.errstate(invalid="ignore"):
        dlon, dlat = _gcj02_delta(lon, lat)
    return _unwrap(lon + dlon, lat + dlat)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 longitude/latitude to WGS84 by fixed-point iteration."""
    gcj_lon, gcj_lat = _as_float_arrays(lon, lat)
    with np.errstate(invalid="ignore"):
        # Out-of-China points pass through unchanged, decided on the GCJ-02
        # input as the published algorithm does.
        outside = out_of_china(gcj_lon, gcj_lat)
        # Solve wgs + delta(wgs) = gcj: iterate wgs <- gcj - delta(wgs). The
        # first step is the usual one-step approximation.
        wgs_lon, wgs_lat = gcj_lon, gcj_lat
        for _ in range(_GCJ_INVERSE_MAX_STEPS):
            dlon, dlat = _gcj02_delta(wgs_lon, wgs_lat)
            next_lon = np.where(outside, gcj_lon, gcj_lon - dlon)
            next_lat = np.where(outside, gcj_lat, gcj_lat - dlat)
            step = np.maximum(np.abs(next_lon - wgs_lon), np.abs(next_lat - wgs_lat))
            wgs_lon, wgs_lat = next_lon, next_lat
            # NaN steps (non-finite input) must not keep the loop going.
            if not np.any(step > _GCJ_INVERSE_TOLERANCE):
                break
    return _unwrap(wgs_lon, wgs_lat)


def gcj02_to_bd09(lon, lat):
    """Convert GCJ-02 longitude/latitude to BD-09 (Baidu)."""
    x, y = _as_float_arrays(lon, lat)
    with np.errstate(invalid="ignore"):
        z = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_X_PI)
        theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
        bd_lon = z * np.cos(theta) + _BD_DLON
        bd_lat = z * np.sin(theta) + _BD_DLAT
    return _unwrap(bd_lon, bd_lat)


def bd09_to_gcj02(lon, lat):
    """Convert BD-09 (Baidu) longitude/latitude to GCJ-02."""
    bd_lon, bd_lat = _as_float_arrays(lon, lat)
    with np.errstate(invalid="ignore"):
        # Baidu's published inverse is itself approximate; refine it against
        # the forward transform (nearly a translation, so a plain correction
        # step converges) so that BD-09 round trips are exact too.
        x = bd_lon - _BD_DLON
        y = bd_lat - _BD_DLAT
        z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
        gcj_lon = z * np.cos(theta)
        gcj_lat = z * np.sin(theta)
        for _ in range(_BD_INVERSE_STEPS):
            fwd_lon, fwd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
            gcj_lon = gcj_lon + (bd_lon - fwd_lon)
            gcj_lat = gcj_lat + (bd_lat - fwd_lat)
    return _unwrap(gcj_lon, gcj_lat)


def wgs84_to_bd09(lon, lat):
    """Convert WGS84 longitude/latitude to BD-09 (Baidu)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    """Convert BD-09 (Baidu) longitude/latitude to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def webmercator_to_wgs84(x, y):
    """Convert Web Mercator (EPSG:3857) metres to WGS84 longitude/latitude."""
    x, y = _as_float_arrays(x, y)
    with np.errstate(invalid="ignore"):
        lon = np.degrees(x / _MERCATOR_R)
        lat = np.degrees(2.0 * np.arctan(np.exp(y / _MERCATOR_R)) - np.pi / 2.0)
    return _unwrap(lon, lat)


def wgs84_to_webmercator(lon, lat):
    """Convert WGS84 longitude/latitude to Web Mercator (EPSG:3857) metres."""
    lon, lat = _as_float_arrays(lon, lat)
    # The poles map to infinity; that is the projection, not an error here.
    with np.errstate(invalid="ignore", divide="ignore"):
        x = _MERCATOR_R * np.radians(lon)
        y = _MERCATOR_R * np.log(np.tan(np.pi / 4.0 + np.radians(lat) / 2.0))
    return _unwrap(x, y)


_TO_STORAGE = {
    WGS84: None,
    CGCS2000: None,
    WEBMERCATOR: webmercator_to_wgs84,
    GCJ02: gcj02_to_wgs84,
    BD09: bd09_to_wgs84,
}


def to_storage(lon, lat, crs):
    """Convert coordinates in any accepted CRS to WGS84 (EPSG:4326) arrays."""
    convert = _TO_STORAGE[parse_crs(crs)]
    lon, lat = _as_float_arrays(lon, lat)
    if convert is None:
        # Copy so that the caller never aliases its own input.
        return lon.copy(), lat.copy()
    new_lon, new_lat = convert(lon, lat)
    return np.asarray(new_lon), np.asarray(new_lat)


def _parse_float(value):
    """Return value as a float, or NaN when it is not a number."""
    if value is None:
        return np.nan
    if isinstance(value, str):
        # NFKC turns full-width digits, points and minus signs typed with a
        # Chinese input method into ASCII.
        value = unicodedata.normalize("NFKC", value).strip()
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def parse_float_array(values):
    """Return values as a float64 array, NaN where a value is not a number."""
    try:
        # Numbers, None and clean numeric strings convert in one C call.
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    array = np.asarray(values, dtype=object)
    flat = [_parse_float(v) for v in array.ravel()]
    return np.asarray(flat, dtype=np.float64).reshape(array.shape)


# Reason codes returned by check_coordinates(); OK means no problem.
OK = ""
EMPTY = "empty"
ZERO = "zero"
OUT_OF_RANGE = "out_of_range"
SWAPPED = "swapped"
OUTSIDE_DISTRICT = "outside_district"

PROBLEM_MESSAGES = {
    OK: "",
    EMPTY: "坐标为空或不是数字 / coordinate is empty or not a number",
    ZERO: "坐标为 (0,0) / coordinate is (0,0)",
    OUT_OF_RANGE: (
        "坐标超出经纬度范围（经度 -180~180，纬度 -90~90） / "
        "coordinate is out of range (longitude -180..180, latitude -90..90)"
    ),
    SWAPPED: "经纬度可能颠倒 / longitude and latitude appear swapped",
    OUTSIDE_DISTRICT: "坐标在辖区范围之外 / coordinate is outside the district",
}
_CODE_DTYPE = f"<U{max(len(code) for code in PROBLEM_MESSAGES)}"


def _inside(lon, lat, bbox):
    """Return True where lon/lat lies inside bbox, edges included."""
    min_lon, min_lat, max_lon, max_lat = bbox
    return (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)


def check_coordinates(lon, lat, bbox=None):
    """
    Return a reason code per point: OK ("") or the first problem found.

    lon/lat are WGS84 degrees (convert other CRSs with to_storage() first);
    strings, None and empty values are accepted so CSV columns can be checked
    as read. bbox is (minlon, minlat, maxlon, maxlat), XISHAN_BBOX by default.
    Map the codes to bilingual messages with coordinate_messages().
    """
    bbox = XISHAN_BBOX if bbox is None else tuple(float(v) for v in bbox)
    if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
        raise ValueError(
            f"bbox must be (minlon, minlat, maxlon, maxlat) with min < max, not {bbox!r}"
        )
    lon, lat = np.broadcast_arrays(parse_float_array(lon), parse_float_array(lat))
    codes = np.full(lon.shape, OK, dtype=_CODE_DTYPE)
    empty = ~(np.isfinite(lon) & np.isfinite(lat))
    zero = ~empty & (lon == 0.0) & (lat == 0.0)
    inside = _inside(lon, lat, bbox)
    # Swapped axes are checked before the range check: in China a swapped
    # point has a "latitude" above 90, and "swapped" is the useful message.
    swapped = ~empty & ~zero & ~inside & _inside(lat, lon, bbox)
    out_of_range = (np.abs(lon) > 180.0) | (np.abs(lat) > 90.0)
    # Assign from the least to the most specific so the first problem wins.
    codes[~inside] = OUTSIDE_DISTRICT
    codes[out_of_range] = OUT_OF_RANGE
    codes[swapped] = SWAPPED
    codes[zero] = ZERO
    codes[empty] = EMPTY
    return codes[()]


def coordinate_messages(codes):
    """Return the bilingual message for each reason code ("" for OK)."""
    codes = np.asarray(codes)
    messages = np.full(codes.shape, "", dtype=object)
    for code, message in PROBLEM_MESSAGES.items():
        messages[codes == code] = message
    return messages[()]
