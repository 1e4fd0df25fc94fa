import json
import zipfile

import pytest
import shapely
from shapely import affinity

from layers.importers import run_import
from layers.models import Grid, RentalHouse
from tests import factories


def feature(code, name, coords, **props):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, **props},
        "geometry": {"type": "Polygon", "coordinates": [coords]},
    }


def write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


def ring(geom):
    """Return the exterior ring coordinates of a (Multi)Polygon GEOS geometry."""
    shape = shapely.from_wkb(bytes(geom.wkb))
    return [list(c) for c in shapely.get_parts(shape)[0].exterior.coords]


@pytest.fixture
def grid_pair(chuanfang_grids):
    return chuanfang_grids[0], chuanfang_grids[1]


def shapely_of(geom):
    return shapely.from_wkb(bytes(geom.wkb))


def exterior(polygon):
    """Return the exterior ring of a single-part shapely geometry as GeoJSON coordinates."""
    (part,) = shapely.get_parts(polygon)
    return [list(c) for c in part.exterior.coords]


@pytest.mark.django_db
def test_redrawn_grid_keeps_history_and_reassigns_only_affected_points(tmp_path, grid_pair):
    a, b = grid_pair
    sa, sb = shapely_of(a.geom), shapely_of(b.geom)
    shared = sa.intersection(sb)
    assert shared.length > 0  # b is a's neighbour
    # Redraw a: it cedes to b the strip of it within ~20 m of their shared boundary.
    strip = sa.intersection(shared.buffer(0.0002, cap_style="flat"))
    new_a, new_b = sa.difference(strip), sb.union(strip)
    # A rental inside the strip (in a until the redraw), and one far inside b.
    mid = shared.interpolate(0.5, normalized=True)
    towards_a = shapely.Point(sa.point_on_surface())
    step = 0.00005 / mid.distance(towards_a)
    inside_strip = shapely.Point(
        mid.x + (towards_a.x - mid.x) * step, mid.y + (towards_a.y - mid.y) * step
    )
    assert strip.contains(inside_strip)
    near_edge = RentalHouse.objects.create(
        code="T-EDGE", address="x", location=factories.point(inside_strip.x, inside_strip.y)
    )
    assert near_edge.grid == a
    new_a, new_b = exterior(new_a), exterior(new_b)
    path = write_geojson(
        tmp_path / "g.geojson",
        [feature(a.code, a.name, new_a), feature(b.code, b.name, new_b)],
    )
    untouched = RentalHouse.objects.filter(grid=Grid.objects.current().get(name="船房社区第8网格"))
    untouched_before = dict(untouched.values_list("pk", "updated_at"))
    report = run_import("grids", path)
    assert report.committed, (report.message, report.errors)
    assert report.counts["updated"] == 2
    assert Grid.objects.filter(code=a.code).count() == 2
    old = Grid.objects.get(pk=a.pk)
    assert old.valid_to is not None
    current_a = Grid.objects.current().get(code=a.code)
    assert current_a.version == a.version + 1 and current_a.valid_to is None
    near_edge.refresh_from_db()
    assert near_edge.grid == Grid.objects.current().get(code=b.code)
    # Points elsewhere were not rewritten.
    assert (
        dict(RentalHouse.objects.filter(pk__in=untouched_before).values_list("pk", "updated_at"))
        == untouched_before
    )
    # Every point of a's old version now points to a current grid.
    assert not RentalHouse.objects.filter(grid_id__in=[a.pk, b.pk]).exists()


@pytest.mark.django_db
def test_reimporting_the_same_grids_changes_nothing(tmp_path, grid_pair):
    a, b = grid_pair
    path = write_geojson(
        tmp_path / "g.geojson", [feature(g.code, g.name, ring(g.geom)) for g in grid_pair]
    )
    report = run_import("grids", path)
    assert report.committed, report.errors
    assert report.counts["unchanged"] == 2 and report.counts["updated"] == 0
    assert Grid.objects.filter(code=a.code).count() == 1


@pytest.mark.django_db
def test_a_polygon_with_fewer_than_3_points_is_rejected(tmp_path, grid_pair):
    a, _ = grid_pair
    x, y = ring(a.geom)[0]
    path = write_geojson(
        tmp_path / "g.geojson", [feature(a.code, a.name, [[x, y], [x + 0.001, y], [x, y]])]
    )
    report = run_import("grids", path)
    assert not report.committed
    assert report.errors == [
        [1, "几何 geometry", "多边形少于3个点 / polygon has fewer than 3 points"]
    ]
    assert Grid.objects.filter(code=a.code).count() == 1


@pytest.mark.django_db
def test_a_self_intersecting_polygon_is_repaired_with_a_note(tmp_path, grid_pair):
    a, _ = grid_pair
    x0, y0, x1, y1 = shapely.from_wkb(bytes(a.geom.wkb)).bounds
    bowtie = [[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]
    report = run_import(
        "grids", write_geojson(tmp_path / "g.geojson", [feature(a.code, a.name, bowtie)])
    )
    assert report.committed, report.errors
    assert any("make_valid" in n for n in report.notes)
    assert Grid.objects.current().get(code=a.code).geom.valid


@pytest.mark.django_db
def test_overlaps_and_gaps_are_reported_in_square_metres(tmp_path, grid_pair):
    from django.contrib.gis.geos import GEOSGeometry

    a, b = grid_pair
    sa, sb = shapely_of(a.geom), shapely_of(b.geom)
    # a moves 20 m towards b: it reaches into b (overlap) and leaves a strip free (gap).
    ca, cb = sa.centroid, sb.centroid
    k = 0.0002 / ca.distance(cb)
    moved = affinity.translate(sa, (cb.x - ca.x) * k, (cb.y - ca.y) * k)
    report = run_import(
        "grids", write_geojson(tmp_path / "g.geojson", [feature(a.code, a.name, exterior(moved))])
    )
    assert report.committed
    overlap = [n for n in report.notes if "overlap" in n and a.code in n and b.code in n]
    gap = [n for n in report.notes if "gap" in n and "船房社区" in n]
    assert overlap and gap
    # The area is reported in square metres (EPSG:4543), not in square degrees.
    expected = GEOSGeometry(moved.intersection(sb).wkt, srid=4326).transform(4543, clone=True)
    area = float(overlap[0].split(": ")[1].split(" m²")[0].replace(",", ""))
    assert area == pytest.approx(expected.area, rel=0.01)
    assert area > 500


@pytest.mark.django_db
def test_check_topology_command_reports_overlaps(grid_pair):
    from io import StringIO

    from django.core.management import call_command

    a, b = grid_pair
    from django.contrib.gis.geos import MultiPolygon

    grown = a.geom.union(b.geom.buffer(-0.0005)).envelope
    Grid.objects.filter(pk=a.pk).update(geom=MultiPolygon(grown, srid=4326))
    out = StringIO()
    call_command("check_topology", stdout=out)
    assert "overlap" in out.getvalue() and a.code in out.getvalue()


@pytest.mark.django_db
def test_grids_with_swapped_coordinates_are_reported(tmp_path, grid_pair):
    a, _ = grid_pair
    swapped = [[y, x] for x, y in ring(a.geom)]
    report = run_import(
        "grids", write_geojson(tmp_path / "g.geojson", [feature(a.code, a.name, swapped)])
    )
    assert not report.committed
    assert "swapped" in report.errors[0][2]


@pytest.mark.django_db
def test_zipped_shapefile_and_geopackage_are_read(tmp_path, grid_pair):
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {"code": [g.code for g in grid_pair], "name": [g.name for g in grid_pair]},
        geometry=[shapely.from_wkb(bytes(g.geom.wkb)) for g in grid_pair],
        crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "grids.gpkg", driver="GPKG")
    report = run_import("grids", tmp_path / "grids.gpkg")
    assert report.committed and report.counts["unchanged"] == 2, report.errors
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame.to_file(shp_dir / "grids.shp", encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "grids.zip", "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f"网格/{f.name}")
    report = run_import("grids", tmp_path / "grids.zip")
    assert report.committed and report.counts["unchanged"] == 2, (report.message, report.errors)


@pytest.mark.django_db
def test_a_zip_without_a_shapefile_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    report = run_import("grids", tmp_path / "x.zip")
    assert not report.committed and "exactly one shapefile" in report.message


@pytest.mark.django_db
def test_a_zip_bomb_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("layer.shp", b"\0" * (60 * 1024 * 1024))
        z.writestr("layer.shx", b"\0" * 100)
        z.writestr("layer.dbf", b"\0" * 100)
    report = run_import("grids", tmp_path / "bomb.zip")
    assert not report.committed and "zip bomb" in report.message


@pytest.mark.django_db
def test_areas_import_creates_a_street_and_community(tmp_path):
    sq = [[102.30, 24.70], [102.31, 24.70], [102.31, 24.71], [102.30, 24.71], [102.30, 24.70]]
    path = write_geojson(
        tmp_path / "a.geojson",
        [
            feature("530112077", "测试街道", sq),
            feature("530112077001", "测试社区", sq, kind="rural"),
        ],
    )
    report = run_import("areas", path)
    assert report.committed, report.errors
    from layers.models import Community

    community = Community.objects.get(code="530112077001")
    assert community.street.code == "530112077" and community.kind == "rural"
    assert run_import("areas", path).counts["unchanged"] == 2
