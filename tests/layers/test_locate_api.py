import pytest

from layers.crs import wgs84_to_bd09, wgs84_to_gcj02
from layers.models import Grid

PILOT = ["红星社区", "西丽园社区", "船房社区", "和平社区"]


def centre_of(community):
    grid = Grid.objects.current().filter(community__name=community).order_by("code").first()
    p = grid.geom.point_on_surface
    return grid, p.x, p.y


@pytest.mark.django_db
@pytest.mark.parametrize("community", PILOT)
def test_locate_answers_the_areas_of_a_point_in_each_pilot_community(client, login, community):
    login("zhihui")
    grid, lon, lat = centre_of(community)
    response = client.get("/api/v1/locate", {"lon": lon, "lat": lat})
    assert response.status_code == 200
    body = response.json()
    assert body["district"] == {"code": "530112", "name": "西山区"}
    assert body["street"]["code"] == grid.community.street.code
    assert body["community"] == {"code": grid.community.code, "name": community}
    assert body["grid"]["code"] == grid.code and body["grid"]["name"] == grid.name
    assert body["workers_visible"] is True
    assert [w["name"] for w in body["workers"]] == sorted(w.name for w in grid.workers.all())


@pytest.mark.django_db
@pytest.mark.parametrize(("crs", "convert"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_locate_converts_gcj02_and_bd09(client, login, crs, convert):
    login("zhihui")
    grid, lon, lat = centre_of("船房社区")
    x, y = convert(lon, lat)
    body = client.get("/api/v1/locate", {"lon": float(x), "lat": float(y), "crs": crs}).json()
    assert body["grid"]["code"] == grid.code
    assert abs(body["lon"] - lon) < 1e-6


@pytest.mark.django_db
def test_workers_are_shown_only_when_the_grid_is_in_the_users_area(client, login):
    login("chuanfang")  # the Chuanfang community centre
    _grid, lon, lat = centre_of("红星社区")
    body = client.get("/api/v1/locate", {"lon": lon, "lat": lat}).json()
    assert body["grid"] is not None
    assert body["workers"] == [] and body["workers_visible"] is False


@pytest.mark.django_db
def test_a_point_on_a_shared_boundary_locates_to_the_smaller_code(client, login):
    login("zhihui")
    a, b = Grid.objects.current().filter(community__name="船房社区").order_by("code")[:2]
    shared = a.geom.intersection(b.geom).centroid
    body = client.get("/api/v1/locate", {"lon": shared.x, "lat": shared.y}).json()
    assert body["grid"]["code"] == min(a.code, b.code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "lon and lat parameters are required"),
        ({"lon": "abc", "lat": "25"}, "not a number"),
        ({"lon": "0", "lat": "0"}, "(0,0)"),
        ({"lon": "25.0", "lat": "102.6"}, "swapped"),
        ({"lon": "116.4", "lat": "39.9"}, "outside the district"),
        ({"lon": "102.6", "lat": "25.0", "crs": "beijing54"}, "unknown CRS"),
    ],
)
def test_bad_coordinates_get_a_400_with_a_bilingual_message(client, login, params, message):
    login("zhihui")
    response = client.get("/api/v1/locate", params)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert message in detail and " / " in detail


@pytest.mark.django_db
def test_locate_needs_a_login(client):
    assert client.get("/api/v1/locate", {"lon": 102.6, "lat": 25.0}).status_code in (401, 403)


@pytest.mark.django_db
def test_a_point_outside_every_grid_answers_without_a_grid(client, login):
    login("zhihui")
    body = client.get("/api/v1/locate", {"lon": 102.3, "lat": 24.7}).json()
    assert body["grid"] is None and body["workers"] == []
