"""REST layers under /api/v1/ (GeoJSON, in_bbox, paging, scoping, masking) and the API docs."""

import json
import re

import pytest

from layers.models import Grid, Person, RentalHouse


def get(client, url, **extra):
    response = client.get(url, **extra)
    return response, json.loads(response.content)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/areas/streets/",
        "/api/v1/areas/communities/",
        "/api/v1/grids/",
        "/api/v1/rental-houses/",
        "/api/v1/persons/",
    ],
)
def test_every_layer_is_a_geojson_feature_collection_in_lon_lat(api, url):
    response, body = get(api(), f"{url}?limit=3")
    assert response.status_code == 200
    assert body["type"] == "FeatureCollection"
    assert body["count"] > 0 and len(body["features"]) <= 3
    feature = body["features"][0]
    assert feature["type"] == "Feature" and isinstance(feature["id"], int)
    coords = feature["geometry"]["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    lon, lat = coords[:2]
    assert 102 < lon < 104 and 24 < lat < 26  # RFC 7946: longitude first
    detail, one = get(api(), f"{url}{feature['id']}/")
    assert detail.status_code == 200 and one["id"] == feature["id"]


def test_grids_are_current_versions_paginated_by_limit_and_offset(api):
    client = api()
    _, first = get(client, "/api/v1/grids/?limit=50")
    assert first["count"] == Grid.objects.current().count() == 79
    assert "offset=50" in first["next"] and first["previous"] is None
    _, second = get(client, "/api/v1/grids/?limit=50&offset=50")
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert len(set(ids)) == 79 and second["next"] is None


def test_in_bbox_filters_and_bad_bbox_is_a_bilingual_400(api):
    client = api()
    _, everything = get(client, "/api/v1/rental-houses/?limit=1")
    _, some = get(client, "/api/v1/rental-houses/?limit=1&in_bbox=102.66,24.97,102.67,24.98")
    _, grids = get(client, "/api/v1/grids/?limit=1&in_bbox=102.66,24.97,102.67,24.98")
    assert 0 < some["count"] < everything["count"]
    assert 0 < grids["count"] < 79  # polygons overlapping the box
    for bad in ("1,2,3", "a,b,c,d", "5,5,1,1", "0,0,0,100", "inf,0,1,1"):
        response, body = get(client, f"/api/v1/rental-houses/?in_bbox={bad}")
        assert response.status_code == 400, bad
        assert " / " in body["in_bbox"]


def test_bbox_is_read_as_the_synonym_of_in_bbox(api):
    client = api()
    box = "102.66,24.97,102.67,24.98"
    for url in ("/api/v1/rental-houses/", "/api/v1/grids/"):
        _, with_in_bbox = get(client, f"{url}?limit=1&in_bbox={box}")
        _, with_bbox = get(client, f"{url}?limit=1&bbox={box}")
        assert with_bbox["count"] == with_in_bbox["count"]
        assert with_bbox["features"] == with_in_bbox["features"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/areas/streets/",
        "/api/v1/areas/communities/",
        "/api/v1/grids/",
        "/api/v1/rental-houses/",
        "/api/v1/persons/",
    ],
)
@pytest.mark.parametrize(
    "bad",
    ["1,2,3", "a,b,c,d", "NaN,0,1,1", "0,0,1,inf", "' OR '1'='1", " ", "103,25,102,24", "0,0,1,91"],
)
def test_a_malformed_bbox_is_a_bilingual_400_on_every_layer(api, url, bad):
    response, body = get(api(), url, data={"bbox": bad})
    assert response.status_code == 400, body
    assert set(body) == {"bbox"}
    assert " / " in body["bbox"] and "bbox" in body["bbox"]


def test_bbox_and_in_bbox_together_are_refused(api):
    box = "102.66,24.97,102.67,24.98"
    response, body = get(api(), f"/api/v1/grids/?in_bbox={box}&bbox={box}")
    assert response.status_code == 400
    assert " / " in body["bbox"]


def test_filters_by_area_codes(api):
    client = api()
    grid = Grid.objects.current().first()
    _, body = get(client, f"/api/v1/rental-houses/?grid={grid.code}&limit=1000")
    assert body["count"] == RentalHouse.objects.filter(grid=grid).count()
    _, body = get(client, f"/api/v1/grids/?community={grid.community.code}")
    assert body["count"] == Grid.objects.current().filter(community=grid.community).count()
    _, body = get(client, "/api/v1/persons/?kind=floating&limit=1")
    assert body["count"] == Person.objects.filter(kind="floating").count()


def test_persons_are_masked_and_carry_no_clear_personal_data(api):
    _, body = get(api(), "/api/v1/persons/?limit=20")
    for feature in body["features"]:
        props = feature["properties"]
        assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", props["id_number"]), props["id_number"]
        assert props["phone"] == "" or "****" in props["phone"]
        assert props["name"][1:] == "*" * (len(props["name"]) - 1)
        assert not {"id_number_cipher", "phone_cipher", "address", "household_no"} & set(props)
    person = Person.objects.get(pk=body["features"][0]["id"])
    assert person.name not in json.dumps(body, ensure_ascii=False) or len(person.name) == 1


def test_rental_landlords_are_masked(api):
    _, body = get(api(), "/api/v1/rental-houses/?limit=20")
    for feature in body["features"]:
        props = feature["properties"]
        assert props["landlord_phone"] == "" or "****" in props["landlord_phone"]
        assert set(props["landlord_name"][1:]) <= {"*"}


def test_layers_are_scoped_to_the_users_area(api):
    from accounts.models import User

    worker = User.objects.get(username="wangge")
    mine = set(worker.grid_worker.grids.values_list("pk", flat=True))
    _, body = get(api("wangge"), "/api/v1/grids/")
    assert {f["id"] for f in body["features"]} == mine
    _, persons = get(api("wangge"), "/api/v1/persons/?limit=1")
    assert persons["count"] == Person.objects.filter(grid__in=mine).count()
    other = Person.objects.exclude(grid__in=mine).first()
    response, body = get(api("wangge"), f"/api/v1/persons/{other.pk}/")
    assert response.status_code == 404 and " / " in body["detail"]
    # A department handler has no area: nothing.
    _, body = get(api("renshe"), "/api/v1/rental-houses/")
    assert body["count"] == 0


def test_anonymous_is_refused(client, db):
    assert client.get("/api/v1/grids/").status_code in (401, 403)


def test_api_token_with_layers_read(client, token):
    key = token("zhihui", scopes=["layers:read"])
    response = client.get("/api/v1/grids/?limit=1", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    no_scope = token("zhihui", scopes=["cases:read"])
    response = client.get("/api/v1/grids/?limit=1", HTTP_AUTHORIZATION=f"Bearer {no_scope}")
    assert response.status_code == 403


def test_layers_are_read_only(api):
    client = api()
    assert client.post("/api/v1/grids/", {}, content_type="application/json").status_code == 405
    grid = Grid.objects.current().first()
    assert client.delete(f"/api/v1/grids/{grid.pk}/").status_code == 405


def test_openapi_schema_describes_the_layers_and_token_auth(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/grids/",
        "/api/v1/grids/{id}/",
        "/api/v1/areas/streets/",
        "/api/v1/areas/communities/",
        "/api/v1/rental-houses/",
        "/api/v1/persons/",
    ):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/v1/grids/"]["get"]["parameters"]}
    assert {"in_bbox", "bbox", "limit", "offset"} <= params
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


def test_docs_page_loads_swagger_ui_from_local_static_files_only(client, db, settings):
    from django.contrib.staticfiles import finders

    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/vendor/swagger-ui/") or asset.startswith("/api/"), asset
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset
    assert "cdn" not in html.lower() and "https://" not in html


def test_api_answers_are_not_kept_by_shared_or_client_caches(client, token):
    # Persons (masked) and cases depend on the caller's area: a proxy or a desktop GIS's
    # disk cache must not hand one caller's answer to another.
    key = token("majie", ["layers:read"])
    for url in ("/api/v1/persons/", "/api/v1/grids/"):
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
        assert "Authorization" in response["Vary"] and "Cookie" in response["Vary"]
    response = client.get("/open311/v2/services.json")
    assert "no-store" in response["Cache-Control"]
    from accounts.models import User

    client.force_login(User.objects.get(username="zhihui"))
    response = client.get("/map/data/live.json")  # the wall map's feed and KPIs
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
