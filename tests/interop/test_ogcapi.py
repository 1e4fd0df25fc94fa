"""OGC API – Features at /ogcapi/: documents, paging, bbox, scoping, auth, and GDAL's OAPIF."""

import json
import os
import shutil
import subprocess

import pytest

from interop.ogcapi import CONFORMANCE


def _get(client, url, **headers):
    response = client.get(url, **headers)
    return response, (json.loads(response.content) if response.content else None)


def test_landing_page_links_self_service_desc_conformance_and_data(api):
    response, body = _get(api(), "/ogcapi/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    rels = {link["rel"]: link for link in body["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")
    assert rels["data"]["href"].endswith("/ogcapi/collections")


def test_conformance_declares_core_geojson_and_oas30(api):
    _, body = _get(api(), "/ogcapi/conformance?f=json")
    assert set(CONFORMANCE) <= set(body["conformsTo"])
    assert any(c.endswith("/conf/oas30") for c in body["conformsTo"])


def test_api_definition_is_openapi_3_with_limit_bounds(api):
    response, body = _get(api(), "/ogcapi/api")
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert body["openapi"].startswith("3.0")
    limit = body["components"]["parameters"]["limit"]["schema"]
    assert (limit["default"], limit["maximum"]) == (10, 10000)


def test_collections_list_the_five_layers_with_extent_and_items_link(api):
    _, body = _get(api(), "/ogcapi/collections")
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["streets", "communities", "grids", "rentals", "cases"]
    grids = body["collections"][2]
    assert grids["itemType"] == "feature"
    x0, y0, x1, y1 = grids["extent"]["spatial"]["bbox"][0]
    assert 102 < x0 < x1 < 104 and 24 < y0 < y1 < 26  # lon/lat order
    assert any(
        link["rel"] == "items" and link["type"] == "application/geo+json" for link in grids["links"]
    )
    cases = body["collections"][4]
    assert cases["extent"]["temporal"]["interval"][0][0]


def test_items_default_limit_10_with_counts_and_next_link(api):
    response, body = _get(api(), "/ogcapi/collections/grids/items")
    assert response["Content-Type"].startswith("application/geo+json")
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 10 == len(body["features"])
    assert body["numberMatched"] == 79
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=10" in rels["next"] and "limit=10" in rels["next"]
    assert "prev" not in rels
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    lon, lat = feature["geometry"]["coordinates"][0][0][0]
    assert 102 < lon < 104 and 24 < lat < 26
    assert len(feature["properties"]["code"]) == 20


def test_paging_with_offset_walks_every_feature_once(api):
    client = api()
    seen, url = [], "/ogcapi/collections/grids/items?limit=25"
    while url:
        _, body = _get(client, url)
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert len(seen) == len(set(seen)) == 79
    _, last = _get(client, "/ogcapi/collections/grids/items?limit=25&offset=75")
    assert any(link["rel"] == "prev" for link in last["links"])
    assert last["numberReturned"] == 4


def test_limit_above_maximum_is_clamped_and_bad_limit_is_400(api):
    client = api()
    _, body = _get(client, "/ogcapi/collections/grids/items?limit=50000")
    assert body["numberReturned"] == 79
    response, body = _get(client, "/ogcapi/collections/grids/items?limit=abc")
    assert response.status_code == 400
    assert body["code"] == "InvalidParameterValue" and " / " in body["description"]
    response, _ = _get(client, "/ogcapi/collections/grids/items?limit=0")
    assert response.status_code == 400


def test_bbox_filters_items_and_bad_bbox_is_400(api):
    client = api()
    _, everything = _get(client, "/ogcapi/collections/rentals/items?limit=1")
    _, some = _get(
        client, "/ogcapi/collections/rentals/items?limit=1&bbox=102.66,24.97,102.67,24.98"
    )
    _, none = _get(client, "/ogcapi/collections/rentals/items?bbox=0,0,1,1")
    assert 0 < some["numberMatched"] < everything["numberMatched"]
    assert none["numberMatched"] == 0
    for bad in ("1,2,3", "a,b,c,d", "10,10,0,0", "0,0,200,1", "nan,0,1,1", "0,0,1,inf", "' OR 1"):
        response, body = _get(client, "/ogcapi/collections/rentals/items", data={"bbox": bad})
        assert response.status_code == 400, bad
        assert body["code"] == "InvalidParameterValue" and " / " in body["description"], body
    response, _ = _get(client, "/ogcapi/collections/rentals/items?bbox=0,0,1,1&bbox-crs=EPSG:3857")
    assert response.status_code == 400


def test_cases_datetime_interval_filters_on_reporting_time(api):
    client = api()
    _, everything = _get(client, "/ogcapi/collections/cases/items?limit=1")
    _, none = _get(client, "/ogcapi/collections/cases/items?datetime=1990-01-01/1990-12-31")
    _, open_end = _get(client, "/ogcapi/collections/cases/items?limit=1&datetime=../2100-01-01")
    assert none["numberMatched"] == 0
    assert open_end["numberMatched"] == everything["numberMatched"] > 0
    response, _ = _get(client, "/ogcapi/collections/cases/items?datetime=yesterday")
    assert response.status_code == 400


def test_single_item_and_unknown_item_or_collection_are_404(api):
    client = api()
    _, page = _get(client, "/ogcapi/collections/rentals/items?limit=1")
    fid = page["features"][0]["id"]
    response, item = _get(client, f"/ogcapi/collections/rentals/items/{fid}")
    assert response.status_code == 200 and item["id"] == fid
    assert item["type"] == "Feature" and "landlord_name" not in item["properties"]
    for url in (
        "/ogcapi/collections/rentals/items/999999999",
        "/ogcapi/collections/rentals/items/abc",
        "/ogcapi/collections/persons/items",
        "/ogcapi/collections/nothing",
        "/ogcapi/collections/grids/queryables",
    ):
        response, body = _get(client, url)
        assert response.status_code == 404, url
        assert body["code"] == "NotFound"


def test_unsupported_format_is_400(api):
    response, body = _get(api(), "/ogcapi/collections?f=html")
    assert response.status_code == 400 and "f=json" in body["description"]


def test_collections_are_scoped_to_the_users_area(api):
    from accounts.models import User
    from layers.models import Grid

    user = User.objects.get(username="chuanfang")
    _, body = _get(api("chuanfang"), "/ogcapi/collections/grids/items?limit=1000")
    assert body["numberMatched"] == Grid.objects.current().filter(community=user.community).count()
    assert {f["properties"]["community"] for f in body["features"]} == {user.community.code}
    other = Grid.objects.current().exclude(community=user.community).first()
    response, _ = _get(api("chuanfang"), f"/ogcapi/collections/grids/items/{other.pk}")
    assert response.status_code == 404


def test_anonymous_is_401_with_bearer_challenge(client, db):
    response, body = _get(client, "/ogcapi/collections")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["code"] == "NotAuthenticated"


def test_token_auth_and_scopes(client, token):
    key = token("zhihui", scopes=["layers:read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    response, body = _get(client, "/ogcapi/collections", **auth)
    assert response.status_code == 200
    assert "cases" not in [c["id"] for c in body["collections"]]
    response, _ = _get(client, "/ogcapi/collections/grids/items", **auth)
    assert response.status_code == 200
    response, _ = _get(client, "/ogcapi/collections/cases/items", **auth)
    assert response.status_code == 403
    response, _ = _get(client, "/ogcapi/collections", HTTP_AUTHORIZATION="Bearer gm_wrong")
    assert response.status_code == 401


def test_post_is_405(api):
    response = api().post("/ogcapi/collections/grids/items", {})
    assert response.status_code == 405


# --- GDAL's OAPIF driver against a live server -------------------------------------------

OGRINFO = shutil.which("ogrinfo") or "/usr/bin/ogrinfo"


def _ogrinfo(base, key, *args):
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60"}
    env.pop("GDAL_DATA", None)
    result = subprocess.run(
        [
            OGRINFO,
            "--config",
            "GDAL_HTTP_HEADERS",
            f"Authorization: Bearer {key}",
            "-ro",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@pytest.mark.skipif(not os.path.exists(OGRINFO), reason="gdal-bin (ogrinfo) is not installed")
def test_ogrinfo_lists_the_collections_and_counts_grid_features(live_ogc, db):
    from layers.models import Grid

    base, key = live_ogc
    listing = _ogrinfo(base, key, f"OAPIF:{base}/ogcapi")
    for name in ("streets", "communities", "grids", "rentals", "cases"):
        assert f": {name}" in listing, listing
    summary = _ogrinfo(base, key, "-so", f"OAPIF:{base}/ogcapi", "grids")
    assert f"Feature Count: {Grid.objects.current().count()}" in summary, summary
    assert "Multi Polygon" in summary or "MultiPolygon" in summary, summary
    # Every feature through the next links (limit pages), not just the count.
    every = _ogrinfo(base, key, "-q", "-oo", "PAGE_SIZE=20", f"OAPIF:{base}/ogcapi", "grids")
    assert every.count("OGRFeature(grids)") == 79, every[-500:]


@pytest.mark.skipif(not os.path.exists(OGRINFO), reason="gdal-bin (ogrinfo) is not installed")
def test_ogrinfo_without_token_fails(live_ogc):
    base, _ = live_ogc
    result = subprocess.run(
        [OGRINFO, "-ro", f"OAPIF:{base}/ogcapi"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
