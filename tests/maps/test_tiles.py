"""Vector tiles: layers, aggregation, area scoping, cache and invalidation, bad requests."""

import pytest

from gridmap import tiles
from tests.maps.conftest import tile_of
from tests.maps.mvt import decode

pytestmark = pytest.mark.django_db


def get_tile(client, layer, z, x, y):
    response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    return response, decode(response.content)


def centre(grid):
    point = grid.geom.point_on_surface
    return point.x, point.y


def test_grid_tile_carries_the_grid_with_small_attributes(client, login, worker_grid):
    login("zhihui")
    x, y = tile_of(*centre(worker_grid), 15)
    _, layers = get_tile(client, "grids", 15, x, y)
    features = layers["grids"]
    assert worker_grid.pk in {f["id"] for f in features}
    assert all(set(f["properties"]) <= {"id", "name"} for f in features)


def test_cases_are_points_when_zoomed_in_and_counts_per_grid_below(
    client, login, worker_grid, new_case
):
    case = new_case(worker_grid)
    login("zhihui")
    lon, lat = case.location.x, case.location.y
    x, y = tile_of(lon, lat, 16)
    _, layers = get_tile(client, "cases", 16, x, y)
    points = {f["id"]: f["properties"] for f in layers["cases"]}
    assert case.pk in points
    assert set(points[case.pk]) == {"s", "od", "u"}
    x, y = tile_of(lon, lat, 12)
    _, layers = get_tile(client, "cases", 12, x, y)
    grids = {f["properties"]["gid"]: f["properties"] for f in layers["cases"]}
    assert grids[worker_grid.pk]["n"] >= 1
    assert all(set(p) == {"gid", "n", "od"} for p in grids.values())
    # Coarse zooms: one count per community.
    x, y = tile_of(lon, lat, 10)
    _, layers = get_tile(client, "cases", 10, x, y)
    communities = {f["properties"]["cid"]: f["properties"] for f in layers["cases"]}
    assert communities[worker_grid.community_id]["n"] >= 1
    assert all(set(p) == {"cid", "n", "od", "g"} for p in communities.values())


def test_persons_tile_is_density_only_never_a_person(client, login, worker_grid):
    login("zhihui")
    for z in (11, 14, 18):
        x, y = tile_of(*centre(worker_grid), z)
        _, layers = get_tile(client, "persons", z, x, y)
        for feature in layers.get("persons", []):
            assert set(feature["properties"]) - {"gid", "cid", "g"} == {"n", "fl", "due"}
            assert feature["id"] is None


def test_grid_worker_tiles_hold_only_his_grids(client, login, worker_grid, other_grid, new_case):
    inside = new_case(worker_grid)
    outside = new_case(other_grid)
    login("wangge")
    from accounts.models import User
    from accounts.scoping import territory_grid_ids

    mine = set(territory_grid_ids(User.objects.get(username="wangge")))
    for case in (inside, outside):
        x, y = tile_of(case.location.x, case.location.y, 16)
        _, layers = get_tile(client, "cases", 16, x, y)
        ids = {f["id"] for f in layers.get("cases", [])}
        assert (case.pk in ids) == (case is inside)
    # Low zoom: the whole district in a few tiles, still only his grids.
    x, y = tile_of(*centre(worker_grid), 12)
    for layer in ("cases", "rentals", "persons"):
        _, layers = get_tile(client, layer, 12, x, y)
        assert {f["properties"]["gid"] for f in layers.get(layer, [])} <= mine
    _, layers = get_tile(client, "grids", 12, x, y)
    assert {f["id"] for f in layers["grids"]} == mine
    # Coarse zooms: only his community, counting only his grids.
    x, y = tile_of(*centre(worker_grid), 10)
    _, layers = get_tile(client, "cases", 10, x, y)
    rows = {f["properties"]["cid"]: f["properties"] for f in layers["cases"]}
    assert set(rows) == {worker_grid.community_id}
    assert rows[worker_grid.community_id]["g"] == len(mine)
    assert rows[worker_grid.community_id]["n"] == sum(
        tiles.summary("cases").get(g, (0, 0))[0] for g in mine
    )


def test_rental_points_of_other_grids_are_not_in_a_workers_tile(client, login, other_grid):
    from layers.models import RentalHouse

    house = RentalHouse.objects.filter(grid=other_grid).first()
    if house is None:
        pytest.skip("no rental house in that grid")
    x, y = tile_of(house.location.x, house.location.y, 17)
    login("zhihui")
    _, layers = get_tile(client, "rentals", 17, x, y)
    assert house.pk in {f["id"] for f in layers["rentals"]}
    login("wangge")
    _, layers = get_tile(client, "rentals", 17, x, y)
    assert house.pk not in {f["id"] for f in layers.get("rentals", [])}


def test_a_user_without_an_area_gets_empty_tiles(client, login, worker_grid):
    login("renshe")
    x, y = tile_of(*centre(worker_grid), 14)
    for layer in ("grids", "cases", "rentals", "persons", "workers"):
        response, layers = get_tile(client, layer, 14, x, y)
        assert response.content == b""


def test_anonymous_tile_request_is_refused(client):
    response = client.get("/tiles/grids/14/13059/7029.pbf")
    assert response.status_code == 403
    assert "log in" in response.json()["detail"]


@pytest.mark.parametrize(
    "url, status",
    [
        ("/tiles/grids/23/0/0.pbf", 400),
        ("/tiles/grids/3/8/0.pbf", 400),
        ("/tiles/grids/3/0/9.pbf", 400),
        ("/tiles/people/3/0/0.pbf", 404),
    ],
)
def test_bad_tile_requests_get_a_clear_message(client, login, url, status):
    login("zhihui")
    response = client.get(url)
    assert response.status_code == status
    assert " / " in response.json()["detail"]


def test_second_request_is_a_cache_hit_and_new_data_invalidates_it(
    client, login, worker_grid, new_case
):
    login("zhihui")
    lon, lat = centre(worker_grid)
    x, y = tile_of(lon, lat, 16)
    url = f"/tiles/cases/16/{x}/{y}.pbf"
    client.get(url)
    assert client.get(url)["X-Tile-Cache"] == "hit"
    case = new_case(worker_grid)
    response = client.get(url)
    assert response["X-Tile-Cache"] == "miss"
    assert case.pk in {f["id"] for f in decode(response.content)["cases"]}


def test_tile_cache_key_separates_viewers(client, login, worker_grid, other_grid):
    """A tile cached for the district never answers a grid worker."""
    x, y = tile_of(*centre(other_grid), 12)
    login("zhihui")
    client.get(f"/tiles/grids/12/{x}/{y}.pbf")
    login("wangge")
    response = client.get(f"/tiles/grids/12/{x}/{y}.pbf")
    from accounts.models import User
    from accounts.scoping import territory_grid_ids

    mine = set(territory_grid_ids(User.objects.get(username="wangge")))
    ids = {f["id"] for f in decode(response.content).get("grids", [])}
    assert ids <= mine


def test_writes_without_signals_are_caught_by_the_fingerprint(login, worker_grid, new_case):
    before = tiles.layer_version("cases")
    counter = tiles.read_counters()["cases"]
    from cases.models import Case

    case = new_case(worker_grid)
    # Pretend the write came from another process: undo the local signal bump.
    assert tiles.read_counters()["cases"] != counter
    tiles.write_counter("cases", counter)
    tiles._fingerprint["at"] = 0.0
    assert tiles.layer_version("cases") != before
    assert Case.objects.filter(pk=case.pk).exists()


def test_fresh_version_lets_the_browser_keep_the_tile(client, login, worker_grid):
    login("zhihui")
    x, y = tile_of(*centre(worker_grid), 14)
    version = tiles.layer_version("grids")
    fresh = client.get(f"/tiles/grids/14/{x}/{y}.pbf?v={version}")
    stale = client.get(f"/tiles/grids/14/{x}/{y}.pbf?v=old")
    assert "max-age=300" in fresh["Cache-Control"]
    assert "no-cache" in stale["Cache-Control"]
