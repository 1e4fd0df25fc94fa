"""The map pages and their data: wall map, territory view, popups, live feed, dispatch, export."""

import re

import pytest

from gridmap import maps

pytestmark = pytest.mark.django_db

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def test_wall_map_page_loads_only_local_assets(client, login):
    login("zhihui")
    response = client.get("/map/wall/")
    assert response.status_code == 200
    page = response.content.decode()
    assert not REMOTE.search(page)
    assert "/static/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js" in page
    assert "/static/vendor/chartjs/chart.umd.min.js" in page
    assert "GM.wall.init(" in page
    for layer in ("grids", "areas", "cases", "rentals", "persons", "workers"):
        assert f"/tiles/{layer}/{{tz}}/{{x}}/{{y}}.pbf" in page
    # Big layers come as tiles: no GeoJSON is inlined in the wall map.
    assert '"FeatureCollection"' not in page
    assert len(response.content) < 60_000


def test_map_scale_bars_are_metric_only(client, login):
    login("wangge")
    for url in ("/map/wall/", "/map/territory/"):
        page = client.get(url).content.decode()
        assert "L.control.scale({imperial: false})" in page, url
        assert "L.control.scale()" not in page, url


def test_wall_map_requires_login(client):
    response = client.get("/map/wall/")
    assert response.status_code == 302


def test_folium_class_level_assets_stay_local_after_building_maps(client, login):
    import folium
    from folium import plugins

    login("zhihui")
    client.get("/map/wall/")
    for cls in (folium.Map, plugins.VectorGridProtobuf, plugins.Fullscreen):
        for _name, url in cls.default_js + cls.default_css:
            assert url.startswith("/static/"), url


def test_territory_shows_only_the_workers_grids(client, login, worker_grid, other_grid):
    user = login("wangge")
    from accounts.scoping import territory_grid_ids
    from layers.models import Grid

    response = client.get("/map/territory/")
    assert response.status_code == 200
    page = response.content.decode()
    for grid in Grid.objects.filter(pk__in=territory_grid_ids(user)):
        assert grid.name in page
    assert other_grid.name not in page
    assert not REMOTE.search(page)
    assert len(response.content) < 150_000


def test_territory_lists_mask_person_names(client, login, worker_grid):
    from layers.models import Person

    login("wangge")
    page = client.get("/map/territory/").content.decode()
    person = Person.objects.filter(grid=worker_grid, last_verified__isnull=True).first() or (
        Person.objects.filter(grid=worker_grid).order_by("last_verified").first()
    )
    assert person is not None
    assert person.name not in page or len(person.name) == 1


def test_territory_for_a_whole_district_role_points_to_the_wall_map(client, login):
    login("zhihui")
    response = client.get("/map/territory/")
    assert response.status_code == 200
    assert "/map/wall/" in response.content.decode()


def test_live_feed_returns_new_cases_after_since(client, login, worker_grid, new_case):
    login("zhihui")
    first = client.get("/map/data/live.json").json()
    assert set(first["kpis"]) >= {"today", "open", "overdue", "closure_rate", "satisfaction_rate"}
    since = max(c["id"] for c in first["feed"])
    case = new_case(worker_grid, title="新的案件")
    data = client.get(f"/map/data/live.json?since={since}").json()
    assert [c["id"] for c in data["feed"]] == [case.pk]
    assert data["versions"]["cases"] != first["versions"]["cases"]


@pytest.mark.parametrize("since", ["abc", "-1", "1.5"])
def test_live_feed_rejects_a_bad_since(client, login, since):
    login("zhihui")
    response = client.get(f"/map/data/live.json?since={since}")
    assert response.status_code == 400
    assert "since" in response.json()["detail"]


def test_data_endpoints_refuse_anonymous_users(client):
    for url in ("/map/data/live.json", "/map/data/stats.json", "/map/data/grid/1.json"):
        assert client.get(url).status_code == 403


def test_grid_stats_and_hotspot_classes(client, login):
    login("zhihui")
    data = client.get("/map/data/stats.json?hotspots=1").json()
    assert data["hotspots"] is True
    values = list(data["grids"].values())
    assert values and all(len(v) == 3 for v in values)
    assert all(-3 <= v[2] <= 3 for v in values)
    assert any(v[2] > 0 for v in values), "the demo plants a hot spot"


def test_grid_stats_of_a_worker_are_his_grids_only(client, login):
    user = login("wangge")
    from accounts.scoping import territory_grid_ids

    data = client.get("/map/data/stats.json").json()
    assert {int(k) for k in data["grids"]} <= set(territory_grid_ids(user))


def test_grid_popup_data_and_scope(client, login, worker_grid, other_grid):
    login("wangge")
    data = client.get(f"/map/data/grid/{worker_grid.pk}.json").json()
    assert data["name"] == worker_grid.name
    assert set(data["counts"]) >= {"open", "overdue", "rentals", "persons"}
    assert all("*" in w["phone"] or not w["phone"] for w in data["workers"])
    assert client.get(f"/map/data/grid/{other_grid.pk}.json").status_code == 404


def test_case_popup_returns_text_as_data_and_hides_other_areas(
    client, login, worker_grid, other_grid, new_case
):
    evil = new_case(worker_grid, description="<script>alert(1)</script>", title="<b>x</b>")
    outside = new_case(other_grid)
    login("wangge")
    data = client.get(f"/map/data/case/{evil.pk}.json").json()
    # The JSON carries the text as is; the page puts it in with textContent (browser test).
    assert data["description"] == "<script>alert(1)</script>"
    assert client.get(f"/map/data/case/{outside.pk}.json").status_code == 404


def test_dispatch_from_the_map(client, login, worker_grid, new_case):
    from cases import services

    case = new_case(worker_grid)
    user = login("zhihui")
    services.case_accept(case=case, by=user)
    case.refresh_from_db()
    popup = client.get(f"/map/data/case/{case.pk}.json").json()
    assert popup["can_dispatch"] is True
    response = client.post(f"/map/data/case/{case.pk}/dispatch/", {"version": popup["version"]})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "dispatched"
    # A stale version is refused with a message, not a 500.
    again = client.post(f"/map/data/case/{case.pk}/dispatch/", {"version": popup["version"]})
    assert again.status_code == 409
    assert " / " in again.json()["detail"]


def test_dispatch_is_refused_to_a_role_that_may_not(client, login, worker_grid, new_case):
    case = new_case(worker_grid)
    login("fenxi")
    response = client.post(f"/map/data/case/{case.pk}/dispatch/", {"version": case.version})
    assert response.status_code in (403, 404)


def test_export_is_one_offline_html_file(client, login):
    login("zhihui")
    response = client.get("/map/export/wall.html?bbox=102.5,24.9,102.7,25.1")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    page = response.content.decode()
    assert "<script src=" not in page
    assert 'rel="stylesheet" href=' not in page
    assert not re.search(r"<(?:img|iframe)[^>]+src=[\"']?https?:", page)
    assert "L.map(" in page and "Leaflet" in page  # Leaflet itself is inlined
    assert '"FeatureCollection"' in page


@pytest.mark.parametrize(
    "bbox", ["1,2,3", "a,b,c,d", "10,10,5,5", "NaN,0,1,1", "0,0,1,inf", "102.5,24.9,102.5,25.1"]
)
def test_export_rejects_a_bad_bbox(client, login, bbox):
    login("zhihui")
    response = client.get(f"/map/export/wall.html?bbox={bbox}")
    assert response.status_code == 400


def test_export_escapes_case_text(client, login, worker_grid, new_case):
    new_case(worker_grid, title="<script>alert(1)</script>")
    login("zhihui")
    page = client.get("/map/export/wall.html").content.decode()
    assert "<script>alert(1)</script>" not in page


def test_safe_json_cannot_close_a_script():
    text = maps.safe_json({"a": "</script><script>alert(1)</script>"})
    assert "</" not in text and "<" not in text
