"""The bad-input corpus (tests/badinput/corpus/*.json, ≥ 200 entries) against every write
and filter endpoint: each must answer 4xx with a message, never 5xx, and write nothing.

API endpoints must answer 4xx. HTML forms (the import upload and the case form with its
attachments) re-render with the error as Django forms do: 200 or 4xx, the error shown,
nothing written.
"""

import base64
import copy
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

CORPUS = Path(__file__).resolve().parent / "corpus"

# Every table a bad input could half-write.
TABLES = [
    "cases_case",
    "cases_caseevent",
    "cases_party",
    "cases_attachment",
    "cases_assignment",
    "cases_callback",
    "cases_reminder",
    "cases_notification",
    "layers_rentalhouse",
    "layers_person",
    "layers_importjob",
    "accounts_auditentry",
]


def load(name):
    return json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))


def entries(name):
    """Return the entries as parameters; a known gap is an expected failure (strict: once
    its owner fixes it, the test says so and the mark goes)."""
    params = []
    for e in load(name):
        marks = [pytest.mark.xfail(strict=True, reason=e["known_gap"])] if "known_gap" in e else []
        params.append(pytest.param(e, id=e["id"], marks=marks))
    return params


def test_the_corpus_has_at_least_200_bad_inputs():
    total = sum(len(load(p.stem)) for p in CORPUS.glob("*.json"))
    assert total >= 200


def row_counts():
    present = []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
            [TABLES],
        )
        present = sorted(r[0] for r in cur.fetchall())
        cur.execute("SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in present))
        return dict(zip(present, cur.fetchone(), strict=True))


def check_answer(response, *, form=False):
    status = response.status_code
    body = response.content.decode("utf-8", "replace")
    assert status < 500, f"{status}: {body[:500]}"
    assert "Traceback" not in body
    if form:
        assert status in (200, 400, 403, 413, 415), status
        assert "errorlist" in body or "invalid" in body or "错误" in body, body[:500]
        return
    assert 400 <= status < 500, f"{status}: {body[:300]}"
    assert body.strip(), "an empty answer is not a clear message"
    if response.get("Content-Type", "").startswith("application/json"):
        data = json.loads(body)
        assert data, "an empty JSON answer is not a clear message"


@pytest.fixture
def base(db):
    from cases.models import Category
    from layers.models import Grid

    grid = Grid.objects.current().filter(community__name__contains="船房").first()
    point = grid.geom.point_on_surface
    return {
        "category": Category.objects.filter(active=True).order_by("code").first().code,
        "lon": round(point.x, 6),
        "lat": round(point.y, 6),
    }


def intake_body(entry, base):
    body = {
        "source": "hotline_12345",
        "category": base["category"],
        "description": "坏输入测试 bad-input test",
        "location": {"type": "Point", "coordinates": [base["lon"], base["lat"]]},
    }
    for field in entry.get("drop", []):
        body.pop(field, None)
    for key, value in entry.get("set", {}).items():
        if value is None and key == "location":
            body.pop(key, None)
        else:
            body[key] = value
    return body


def encode_intake(entry, base):
    """Return (bytes, content type) of an intake entry."""
    ctype = entry.get("content_type", "application/json")
    if "raw" in entry:
        return entry["raw"].encode("utf-8"), ctype
    if "raw_b64" in entry:
        return base64.b64decode(entry["raw_b64"]), ctype
    body = intake_body(entry, base)
    if "raw_json_with" in entry:
        text = json.dumps(body, ensure_ascii=False)
        text = text.replace(f"[{base['lon']}, ", f"[{entry['raw_json_with']}, ")
        return text.encode(), ctype
    if "huge" in entry:
        body["description"] = "x" * entry["huge"]
    text = json.dumps(body, ensure_ascii=False)
    return text.encode(entry.get("encoding", "utf-8")), ctype


def test_a_valid_intake_is_accepted_so_the_corpus_tests_validation(client, login, base):
    login("shouli")
    data, ctype = encode_intake({}, base)
    assert client.post("/api/v1/cases/", data, content_type=ctype).status_code == 201


@pytest.mark.parametrize("entry", entries("intake"))
def test_intake_api_rejects(entry, client, login, base):
    login("shouli")
    data, ctype = encode_intake(entry, base)
    headers = {
        f"HTTP_{k.upper().replace('-', '_')}": v for k, v in entry.get("headers", {}).items()
    }
    before = row_counts()
    response = client.post("/api/v1/cases/", data, content_type=ctype, **headers)
    check_answer(response)
    assert row_counts() == before


@pytest.fixture
def open311_key(db):
    from accounts.models import User
    from accounts.services import issue_api_token

    user = User.objects.get(username="shouli")
    return issue_api_token(name="badinput", user=user, scopes=["cases:create", "cases:read"])[1]


def open311_data(entry, base, key):
    data = {
        "api_key": key,
        "service_code": base["category"],
        "lat": str(base["lat"]),
        "long": str(base["lon"]),
        "description": "坏输入测试 bad-input test",
    }
    for field in entry.get("drop", []):
        data.pop(field, None)
    data.update(entry.get("set", {}))
    return data


def test_a_valid_open311_request_is_accepted(client, base, open311_key):
    response = client.post("/open311/v2/requests.json", open311_data({}, base, open311_key))
    assert response.status_code in (200, 201), response.content[:300]


@pytest.mark.parametrize("entry", entries("open311"))
def test_open311_rejects(entry, client, base, open311_key):
    before = row_counts()
    response = client.post("/open311/v2/requests.json", open311_data(entry, base, open311_key))
    check_answer(response)
    assert row_counts() == before


FILTER_URLS = {
    "locate": "/api/v1/locate",
    "duplicates": "/api/v1/cases/duplicates/",
    "kpis": "/api/v1/kpis/",
    "ogc_items": "/ogcapi/collections/cases/items",
    "open311_list": "/open311/v2/requests.json",
    "live": "/map/data/live.json",
    "hotspots": "/analysis/hotspots/data.json",
    "grids_api": "/api/v1/grids/",
    "unassigned": "/api/v1/unassigned",
}


@pytest.mark.parametrize("entry", entries("filters"))
def test_filters_reject(entry, client, login, base):
    login("zhihui")
    if entry["target"] == "tiles":
        p = entry["path"]
        url, params = f"/tiles/{p['layer']}/{p['z']}/{p['x']}/{p['y']}.pbf", {}
    else:
        url = FILTER_URLS[entry["target"]]
        params = {
            k: (base["category"] if v == "CATEGORY" else v) for k, v in entry["params"].items()
        }
    before = row_counts()
    response = client.get(url, params, HTTP_ACCEPT="application/json")
    check_answer(response)
    assert row_counts() == before


@pytest.fixture
def open_case(db, base):
    from django.contrib.gis.geos import Point

    from accounts.models import User
    from cases import services
    from cases.models import Category

    case, _ = services.case_register(
        source="hotline_12345",
        category=Category.objects.get(code=base["category"]),
        description="坏输入测试 bad-input test",
        location=Point(base["lon"], base["lat"], srid=4326),
        by=User.objects.get(username="shouli"),
    )
    return case


@pytest.mark.parametrize("entry", entries("actions"))
def test_case_actions_reject(entry, client, login, open_case):
    login("zhihui")
    data = entry["raw"] if "raw" in entry else json.dumps(entry.get("body", {}))
    url = f"/api/v1/cases/{open_case.pk}/{entry['action']}/"
    before = row_counts()
    response = client.post(url, data, content_type="application/json")
    check_answer(response)
    assert row_counts() == before


def upload_of(spec):
    content = base64.b64decode(spec["b64"]) if "b64" in spec else b"a" * spec["size"]
    return SimpleUploadedFile(spec["name"], content)


@pytest.mark.parametrize("entry", entries("uploads"))
def test_uploads_reject(entry, client, login, base, settings, monkeypatch):
    settings.MAX_UPLOAD_BYTES = 200_000
    monkeypatch.setattr("cases.services.MAX_ATTACHMENT_BYTES", 200_000)
    before = row_counts()
    if entry["target"] == "import":
        login("admin")
        form = {"crs": "wgs84", **entry["form"], "file": upload_of(entry["file"])}
        response = client.post("/layers/import/", form)
    else:
        login("shouli")
        form = {
            "source": "hotline_12345",
            "category": base["category"],
            "description": "坏输入测试 bad-input test",
            "lon": str(base["lon"]),
            "lat": str(base["lat"]),
            "crs": "wgs84",
            "urgency": "normal",
            "attachments": upload_of(entry["file"]),
        }
        response = client.post("/cases/new/", form)
    check_answer(response, form=True)
    assert row_counts() == before


def test_huge_request_bodies_are_refused_before_parsing(client, login, base):
    login("shouli")
    body = copy.deepcopy(intake_body({}, base))
    body["description"] = "长" * (2 * 1024 * 1024)  # 6 MB of UTF-8
    before = row_counts()
    response = client.post(
        "/api/v1/cases/", json.dumps(body, ensure_ascii=False), content_type="application/json"
    )
    assert response.status_code == 413
    assert "请求体过大" in response.json()["detail"]
    assert row_counts() == before
