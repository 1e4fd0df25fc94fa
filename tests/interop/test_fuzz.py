"""Schema-driven fuzzing of the REST API (/api/v1/) with schemathesis: no input gives a 5xx.

Every operation of the OpenAPI document at /api/schema/ is called in-process through the
WSGI app, with valid (positive) and invalid (negative) inputs generated from the schema,
as a logged-in district user (session cookie plus CSRF token, so that POSTs reach the
views). Each request runs in a savepoint that is rolled back, so the demo data stays as
loaded and one request's database error cannot poison the next.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", 10))
# Fixed parameters per operation. GET /api/v1/cases/ has no maximum page size and
# serialises each case with extra queries: an unbounded `limit` takes seconds per call,
# which would stretch the run without finding more errors (reported to its owner).
FIXED_QUERY = {"GET /api/v1/cases/": {"limit": 20}}
JSON = "application/json"
CSRF = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"  # 32 characters: an unmasked CSRF secret


class RollbackEachRequest:
    """WSGI middleware: run every request in a savepoint and roll it back."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        with transaction.atomic():
            body = b"".join(self.app(environ, start_response))
            transaction.set_rollback(True)
        return [body]


@pytest.fixture
def wsgi_app(db):
    from django.core.wsgi import get_wsgi_application

    # Django closes "obsolete" connections around each request; inside the test's
    # transaction that would close the connection that holds it (the test client
    # disconnects these handlers the same way).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield RollbackEachRequest(get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _session_cookie(username):
    from django.test import Client

    client = Client()
    from accounts.models import User

    client.force_login(User.objects.get(username=username))
    return client.cookies["sessionid"].value


def test_rest_api_answers_no_5xx_to_generated_input(wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    cookies = {"sessionid": _session_cookie("zhihui"), "csrftoken": CSRF}
    headers = {"X-CSRFToken": CSRF, "Referer": "http://localhost/"}
    failures, calls, operations = [], [0], []

    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/"):
            continue
        operations.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fixed = FIXED_QUERY.get(operation.label)
            strategy = (
                operation.as_strategy(generation_mode=mode, query=fixed)
                if fixed
                else operation.as_strategy(generation_mode=mode)
            )

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                response = case.call(headers=headers, cookies=cookies)
                calls[0] += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{response.status_code} {case.method} {case.formatted_path} "
                        f"query={case.query} body={str(case.body)[:300]}"
                    )

            run()

    assert len(operations) >= 10, operations
    assert {
        "GET /api/v1/grids/",
        "GET /api/v1/persons/{id}/",
        "GET /api/v1/rental-houses/",
    } <= set(operations)
    assert calls[0] > len(operations) * 2
    assert not failures, "\n".join(failures[:30])


def _cookies(username):
    return {"sessionid": _session_cookie(username), "csrftoken": CSRF}


def test_answers_of_the_hand_written_views_match_their_schema(wsgi_app):
    """The views that build their answers as dicts answer what /api/schema/ documents."""
    from django.contrib.gis.geos import Point
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    from accounts.models import User
    from cases import services
    from cases.models import Category
    from layers.models import Grid

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    headers = {"X-CSRFToken": CSRF, "Referer": "http://localhost/"}
    district, analyst, admin = _cookies("zhihui"), _cookies("fenxi"), _cookies("admin")
    inside = Grid.objects.current().order_by("code").first().geom.point_on_surface
    outside = Point(102.3, 24.7, srid=4326)  # in the district's box, outside every grid
    wage = Category.objects.get(code="wage")
    cases = {}
    for name, point in (("inside", inside), ("outside", outside)):
        cases[name], _ = services.case_register(
            source="dispute",
            category=wage,
            description="测试案件",
            location=point,
            by=User.objects.get(username="zhihui"),  # the district session replays below
            idempotency_key=f"conformance-{name}",
        )
    near = {"category": "wage", "lon": inside.x, "lat": inside.y}
    dup, locate, unassigned = "/api/v1/cases/duplicates/", "/api/v1/locate", "/api/v1/unassigned"
    action = "/api/v1/cases/{id}/{action}/"

    def query(**params):
        return {"query": params}

    new = {
        "source": "hotline_12345",
        "category": "wage",
        "description": "工地拖欠工资",
        "location": {"type": "Point", "coordinates": [inside.x, inside.y]},
        "parties": [{"name": "王五", "phone": "13912345678"}],
    }

    def intake(body, key=None):
        request = {"body": body, "media_type": JSON}
        return {**request, "headers": {"Idempotency-Key": key}} if key else request

    def act(name, body, id_=cases["inside"].pk):
        return {"path_parameters": {"id": id_, "action": name}, "body": body, "media_type": JSON}

    # (name, method, path, request, session, expected status)
    calls = [
        ("categories", "GET", "/api/v1/categories/", {}, district, 200),
        (None, "GET", "/api/v1/categories/", {}, {}, 403),
        ("duplicates", "GET", dup, query(**near), district, 200),
        (None, "GET", dup, query(**{**near, "category": "x"}), district, 400),
        (None, "GET", dup, query(**{**near, "lat": "abc"}), district, 400),
        # PostgreSQL text cannot hold NUL: refused before it reaches the database.
        (None, "GET", dup, query(**{**near, "category": "w\x00"}), district, 400),
        ("in grid", "GET", locate, query(lon=inside.x, lat=inside.y), district, 200),
        ("no grid", "GET", locate, query(lon=outside.x, lat=outside.y), analyst, 200),
        (None, "GET", locate, query(lon=102.7, crs="utm"), district, 400),
        ("unassigned", "GET", unassigned, query(layer="cases"), district, 200),
        (None, "GET", unassigned, query(layer="rentals", limit=5), district, 200),
        (None, "GET", unassigned, query(layer="x"), district, 400),
        (None, "GET", unassigned, query(offset="x"), district, 400),
        (None, "GET", unassigned, query(offset=2**63), district, 400),  # OFFSET is a bigint
        (None, "GET", unassigned, {}, analyst, 403),
        (None, "GET", "/api/v1/cases/", query(limit=50), district, 200),
        (None, "GET", "/api/v1/cases/", query(limit=5, status="a\x00"), district, 200),
        ("no grid case", "GET", "/api/v1/cases/{id}/",
         {"path_parameters": {"id": cases["outside"].pk}}, admin, 200),
        ("created", "POST", "/api/v1/cases/", intake(new), district, 201),
        ("replayed", "POST", "/api/v1/cases/", intake(new, "conformance-inside"), district, 200),
        (None, "POST", "/api/v1/cases/", intake(new, "conformance-inside"), admin, 409),
        (None, "POST", "/api/v1/cases/", intake({**new, "parties": [{"name": ""}]}), district, 400),
        (None, "POST", "/api/v1/cases/", intake({**new, "parties": "x"}), district, 400),
        (None, "POST", "/api/v1/cases/", intake({**new, "location": [1, 2]}), district, 400),
        (None, "POST", "/api/v1/cases/", intake({**new, "source": "x"}), district, 400),
        (None, "POST", "/api/v1/cases/", intake(new, "k" * 81), district, 400),
        (None, "POST", "/api/v1/cases/", intake(new), analyst, 403),
        ("accepted", "POST", action, act("accept", {"version": 1}), district, 200),
        (None, "POST", action, act("dispatch", {"version": 9}), district, 409),
        (None, "POST", action, act("close", {"version": 1}), district, 400),
        (None, "POST", action, act("callback", {"version": 1, "rating": "great"}), district, 400),
        (None, "POST", action, act("frobnicate", {}), district, 400),
        (None, "POST", action, act("accept", {}), analyst, 403),
        (None, "POST", action, act("accept", {}, id_=2**31 - 1), district, 404),
    ]  # fmt: skip

    answers = {}
    for name, method, path, request, cookies, expected in calls:
        case = schema[path][method].Case(**request)
        response = case.call(headers=headers, cookies=cookies)
        label = f"{method} {case.formatted_path} {request}"
        assert response.status_code == expected, f"{label}: {response.text[:500]}"
        case.validate_response(
            response, checks=[status_code_conformance, response_schema_conformance]
        )
        answers[name] = response.json()

    assert len(answers["categories"]) == Category.objects.filter(active=True).count()
    assert cases["inside"].number in [c["number"] for c in answers["duplicates"]]
    assert answers["in grid"]["grid"] is not None and "detail" not in answers["in grid"]
    assert answers["no grid"]["grid"] is None and answers["no grid"]["detail"]
    assert cases["outside"].pk in [r["id"] for r in answers["unassigned"]["results"]]
    assert answers["no grid case"]["grid"] is None
    assert answers["no grid case"]["location"]["type"] == "Point"
    assert answers["created"]["parties"][0]["phone"] == "139****5678"
    assert answers["replayed"]["id"] == cases["inside"].pk
    assert answers["accepted"]["status"] == "accepted"
