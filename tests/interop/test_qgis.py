"""QGIS against /ogcapi/: Debian's QGIS (python3-qgis) loads the collections as OAPIF layers.

QGIS runs under Debian's /usr/bin/python3 (its bindings are not in the .venv), headless
(QT_QPA_PLATFORM=offscreen), in a subprocess that talks to a live gunicorn. It
authenticates the way a QGIS user would: a Basic authentication configuration holding the
API token as the password (QGIS 3.22 can send no bearer header on an OAPIF layer). The
token is a street centre's, so every count and subset is scoped to one street.

scripts/setup.sh installs python3-qgis: this test does not skip when QGIS is missing.
"""

import base64
import json
import os
import subprocess
import urllib.parse
import urllib.request

import pytest
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.utils import timezone

SYSTEM_PYTHON = "/usr/bin/python3"
USER = "majie"  # street centre of 马街街道
PAGE = 4  # smaller than the street's 9 grids: QGIS must follow the next links
BBOX_PAGE = 4
COLLECTIONS = ["streets", "communities", "grids", "rentals", "cases"]

# Run by Debian's python3 with: base URL, API token, output path, bbox as JSON.
QGIS_SCRIPT = r"""
import json, os, sys
from qgis.PyQt.QtCore import QDate, QDateTime, Qt
from qgis.core import (
    Qgis, QgsApplication, QgsAuthMethodConfig, QgsFeatureRequest, QgsNetworkAccessManager,
    QgsRectangle, QgsSettings, QgsVectorLayer, QgsWkbTypes,
)

base, key, out_path, bbox = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
page, bbox_page = int(sys.argv[5]), int(sys.argv[6])
QgsApplication.setOrganizationName("gridmap-test")
QgsApplication.setApplicationName("qgis-oapif")
app = QgsApplication([], False)
app.initQgis()

# Every URL QGIS asks for, to check that it follows the next links and sends bbox.
requests = []
QgsNetworkAccessManager.setRequestPreprocessor(lambda r: requests.append(r.url().toString()))

def take_requests():
    taken = list(requests)
    del requests[:]
    return taken

def plain(value):
    if isinstance(value, QDateTime):
        return value.toString(Qt.ISODateWithMs) if not value.isNull() else None
    if isinstance(value, QDate):
        return value.toString(Qt.ISODate) if not value.isNull() else None
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    return value

def features(layer, request=None):
    rows = []
    for f in layer.getFeatures(request or QgsFeatureRequest()):
        row = {name: plain(f[name]) for name in layer.fields().names()}
        row["_wkt"] = f.geometry().asWkt(7) if f.hasGeometry() else None
        rows.append(row)
    return rows

# The token, as a QGIS user stores it: a Basic authentication configuration.
manager = QgsApplication.authManager()
assert manager.setMasterPassword("gridmap-test", True)
config = QgsAuthMethodConfig("Basic")
config.setName("gridmap")
config.setConfig("username", "token")
config.setConfig("password", key)
assert manager.storeAuthenticationConfig(config)[0]
auth = config.id()

result = {"qgis": Qgis.QGIS_VERSION}

# The browser's view of a saved connection: its children are the collections.
settings = QgsSettings()
settings.setValue("qgis/connections-wfs/gridmap/url", base)
settings.setValue("qgis/connections-wfs/gridmap/version", "OGC_API_FEATURES")
settings.setValue("qgis/WFS/gridmap/authcfg", auth)
root = QgsApplication.dataItemProviderRegistry().provider("WFS").createDataItem("", None)
result["browser"] = [
    {"connection": connection.name(), "title": item.name(), "uri": item.uri(),
     "provider": item.providerKey()}
    for connection in root.createChildren() if connection.name() == "gridmap"
    for item in connection.createChildren()
]
take_requests()

def layer(typename, extra=""):
    uri = f"url='{base}' typename='{typename}' authcfg={auth} {extra}".strip()
    return QgsVectorLayer(uri, typename, "OAPIF")

result["layers"] = {}
for typename in ("streets", "communities", "grids", "rentals", "cases"):
    lyr = layer(typename)
    error = lyr.error()  # QgsError.summary() of an empty error crashes QGIS 3.22
    result["layers"][typename] = {
        "valid": lyr.isValid(),
        "error": "" if error.isEmpty() else error.summary(),
        "count": lyr.featureCount(),
        "geometry": QgsWkbTypes.displayString(lyr.wkbType()),
        "crs": lyr.crs().authid(),
        "fields": lyr.fields().names(),
    }
    del lyr
take_requests()

# Every grid, page by page.
grids = layer("grids", f"pageSize={page}")
result["grids"] = {"count": grids.featureCount(), "features": features(grids)}
result["grids"]["requests"] = take_requests()
del grids

# A filter rect, sent to the server as bbox (what "only request features overlapping the
# view extent" does), in small pages.
rect = QgsRectangle(*bbox)
for typename in ("grids", "rentals"):
    lyr = layer(typename, f"pageSize={bbox_page} restrictToRequestBBOX='1'")
    rows = features(lyr, QgsFeatureRequest().setFilterRect(rect))
    result[f"{typename}_bbox"] = {"features": rows, "requests": take_requests()}
    del lyr

# A wrong token: QGIS must not get a valid layer.
config = QgsAuthMethodConfig("Basic")
config.setName("wrong")
config.setConfig("username", "token")
config.setConfig("password", "gm_wrong")
manager.storeAuthenticationConfig(config)
wrong = QgsVectorLayer(f"url='{base}' typename='grids' authcfg={config.id()}", "w", "OAPIF")
result["wrong_token_valid"] = wrong.isValid()
del wrong

with open(out_path, "w") as out:
    json.dump(result, out, ensure_ascii=False)
app.exitQgis()
"""


def _qgis_env(tmp_path):
    """Return a clean environment for Debian's python3: no .venv, no bundled GDAL data."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPATH",
            "PYTHONHOME",
            "VIRTUAL_ENV",
            "GDAL_DATA",
            "PROJ_DATA",
            "PROJ_LIB",
            "GDAL_LIBRARY_PATH",
            "GEOS_LIBRARY_PATH",
        )
    }
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_RUNTIME_DIR=str(runtime),
        QGIS_AUTH_DB_DIR_PATH=str(tmp_path / "auth"),
        TZ=settings.TIME_ZONE,  # a desktop in the district
    )
    (tmp_path / "auth").mkdir()
    return env


def _bbox_of(user):
    """Return a rect over part of the user's street, its edges off the grid lines."""
    from django.contrib.gis.db.models import Extent

    from layers.models import Grid

    grids = Grid.objects.current().filter(community__street=user.street)
    x0, y0, x1, y1 = grids.aggregate(e=Extent("geom"))["e"]
    w, h = x1 - x0, y1 - y0
    return [x0 + 0.137 * w, y0 + 0.173 * h, x0 + 0.611 * w, y0 + 0.719 * h]


@pytest.fixture(scope="module")
def qgis(live_ogc, live_token, django_db_blocker, tmp_path_factory):
    """Run the QGIS script once against the live server; return (result, base, bbox, key)."""
    from accounts.models import User

    base, _ = live_ogc
    key = live_token(USER)
    with django_db_blocker.unblock():
        bbox = _bbox_of(User.objects.get(username=USER))
    tmp_path = tmp_path_factory.mktemp("qgis")
    out = tmp_path / "result.json"
    script = tmp_path / "qgis_oapif.py"
    script.write_text(QGIS_SCRIPT)
    run = subprocess.run(
        [
            SYSTEM_PYTHON,
            str(script),
            f"{base}/ogcapi",
            key,
            str(out),
            json.dumps(bbox),
            str(PAGE),
            str(BBOX_PAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_qgis_env(tmp_path),
    )
    assert run.returncode == 0 and out.exists(), (
        f"QGIS script failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    )
    return json.loads(out.read_text()), base, bbox, key


def _items_pages(base, key, collection, **params):
    """Return the URLs of every page of a collection, following next links (Bearer)."""
    url = f"{base}/ogcapi/collections/{collection}/items?{urllib.parse.urlencode(params)}"
    urls = []
    while url:
        urls.append(url)
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return urls


def _area(user):
    from cases.selectors import cases_visible_to
    from layers.models import Community, Grid, RentalHouse, Street

    return {
        "streets": Street.objects.filter(pk=user.street_id),
        "communities": Community.objects.filter(street=user.street),
        "grids": Grid.objects.current().filter(community__street=user.street),
        "rentals": RentalHouse.objects.filter(street=user.street),
        "cases": cases_visible_to(user),
    }


def test_qgis_browser_lists_the_five_collections_of_the_connection(qgis):
    result, base, _, _ = qgis
    browser = result["browser"]
    assert [item["provider"] for item in browser] == ["OAPIF"] * 5, browser
    typenames = [item["uri"].split("typename='")[1].split("'")[0] for item in browser]
    assert typenames == COLLECTIONS
    assert all(f"url='{base}/ogcapi'" in item["uri"] for item in browser)
    assert browser[2]["title"] == "网格 / Grids"


def test_qgis_loads_every_collection_with_the_count_of_the_tokens_area(qgis, db):
    from accounts.models import User

    result, _, _, _ = qgis
    user = User.objects.get(username=USER)
    expected = {name: qs.count() for name, qs in _area(user).items()}
    assert expected["grids"] < 79  # a street, not the district
    geometry = {
        "streets": "MultiPolygon",
        "communities": "MultiPolygon",
        "grids": "MultiPolygon",
        "rentals": "Point",
        "cases": "Point",
    }
    for name in COLLECTIONS:
        layer = result["layers"][name]
        assert layer["valid"], (name, layer["error"])
        assert layer["count"] == expected[name], (name, layer["count"], expected[name])
        assert layer["geometry"] == geometry[name], (name, layer["geometry"])
        assert layer["crs"] == "EPSG:4326", name
    assert result["layers"]["grids"]["fields"] == [
        "code",
        "name",
        "version",
        "valid_from",
        "community",
        "community_name",
        "street",
    ]
    assert "landlord_name" not in result["layers"]["rentals"]["fields"]


def test_qgis_pages_through_every_grid_by_the_next_links(qgis, db):
    from accounts.models import User

    result, base, _, key = qgis
    user = User.objects.get(username=USER)
    grids = {g.code: g for g in _area(user)["grids"].select_related("community__street")}
    assert len(grids) > PAGE
    got = result["grids"]
    assert got["count"] == len(grids)
    codes = [f["code"] for f in got["features"]]
    assert sorted(codes) == sorted(grids) and len(codes) == len(set(codes))
    # The item pages QGIS asked for are exactly the chain of next links, page after page.
    pages = [u for u in got["requests"] if "/items" in u]
    chain = _items_pages(base, key, "grids", limit=PAGE)
    assert len(chain) == -(-len(grids) // PAGE) >= 3
    assert pages[-len(chain) :] == chain, pages
    for feature in got["features"]:
        grid = grids[feature["code"]]
        assert feature["name"] == grid.name
        assert feature["version"] == grid.version
        assert feature["community"] == grid.community.code
        assert feature["community_name"] == grid.community.name
        assert feature["street"] == grid.community.street.code
        geometry = GEOSGeometry(feature["_wkt"], srid=4326)
        assert geometry.geom_type == "MultiPolygon"
        # Lon/lat order, and the same shape to the 7 decimals the server sends.
        assert geometry.equals_exact(grid.geom, tolerance=1e-6), feature["code"]


def test_qgis_shows_date_times_as_the_districts_wall_clock(qgis, db):
    from datetime import datetime

    from layers.models import Grid

    result, _, _, _ = qgis
    feature = result["grids"]["features"][0]
    grid = Grid.objects.current().get(code=feature["code"])
    # QGIS 3.22 drops the UTC offset of a GeoJSON date-time and keeps its wall clock: the
    # server sends local time with its offset, so QGIS shows what the web pages show.
    local = timezone.localtime(grid.valid_from)
    expected = local.replace(tzinfo=None, microsecond=local.microsecond // 1000 * 1000)
    got = datetime.fromisoformat(feature["valid_from"])
    assert got.replace(tzinfo=None) == expected, (feature["valid_from"], local)


def test_qgis_filter_rect_asks_the_server_for_bbox_and_gets_the_right_subset(qgis, db):
    from accounts.models import User

    result, _, bbox, _ = qgis
    user = User.objects.get(username=USER)
    box = Polygon.from_bbox(bbox)
    box.srid = 4326
    area = _area(user)
    for name, geometry in (("grids", "geom"), ("rentals", "location")):
        inside = area[name].filter(**{f"{geometry}__intersects": box})
        expected = set(inside.values_list("code", flat=True))
        got = result[f"{name}_bbox"]
        codes = [f["code"] for f in got["features"]]
        assert 0 < len(expected) < area[name].count(), name
        assert sorted(codes) == sorted(expected), name
        # QGIS sent the rect as bbox, and followed the next links of the filtered pages.
        items = [u for u in got["requests"] if "/items" in u and "bbox=" in u]
        assert items, got["requests"]
        if len(expected) > BBOX_PAGE:
            assert any("offset=" in u for u in items), items
    rental = result["rentals_bbox"]["features"][0]
    house = area["rentals"].get(code=rental["code"])
    assert rental["rooms"] == house.rooms and rental["tenant_count"] == house.tenant_count
    assert bool(rental["overcrowded"]) == house.overcrowded
    point = GEOSGeometry(rental["_wkt"], srid=4326)
    assert point.equals_exact(house.location, tolerance=1e-6)


def test_qgis_with_a_wrong_token_gets_no_layer_even_after_a_good_one(qgis):
    # The script loads it last: nothing of the good token's answers may come from a cache.
    result, _, _, _ = qgis
    assert result["wrong_token_valid"] is False


# --- what QGIS sends and keeps, through the test client ------------------------------------


def _basic(username, password):
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def test_basic_auth_with_the_token_as_password_and_any_user_name(client, token):
    from accounts.models import User

    key = token("chuanfang", scopes=["layers:read"])
    response = client.get("/ogcapi/collections/grids/items?limit=1000", **_basic("token", key))
    assert response.status_code == 200
    body = json.loads(response.content)
    community = User.objects.get(username="chuanfang").community.code
    assert body["numberMatched"] > 0
    assert {f["properties"]["community"] for f in body["features"]} == {community}
    response = client.get("/ogcapi/collections/cases/items", **_basic("chuanfang", key))
    assert response.status_code == 403  # the token's scopes still apply


def test_basic_auth_refuses_an_account_password_and_a_wrong_or_malformed_token(
    client, db, demo_password
):
    for headers in (
        _basic("zhihui", demo_password),
        _basic("token", "gm_wrong"),
        {"HTTP_AUTHORIZATION": "Basic !!!"},
        {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"HTTP_AUTHORIZATION": "Basic a b"},
    ):
        response = client.get("/ogcapi/collections", **headers)
        assert response.status_code == 401, headers
        body = json.loads(response.content)
        assert body["code"] == "NotAuthenticated" and " / " in body["description"]


def test_ogc_answers_are_not_stored_by_client_caches(api, client, db):
    for response in (api().get("/ogcapi/collections/grids/items"), client.get("/ogcapi/")):
        assert "no-store" in response["Cache-Control"], response.status_code
        assert "Authorization" in response["Vary"] and "Cookie" in response["Vary"]
