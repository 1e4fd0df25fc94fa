"""The case API: categories, intake with idempotency, bilingual errors, actions."""

import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse

from cases.models import Case, Status

pytestmark = pytest.mark.django_db


def body(point, **extra):
    data = {
        "source": "police_110",
        "category": "wage",
        "description": "工地拖欠工资",
    }
    if point is not None:
        data["location"] = {"type": "Point", "coordinates": [point.x, point.y]}
    data.update(extra)
    return data


def post(client, data, **headers):
    return client.post(reverse("cases:api-cases"), data, content_type="application/json", **headers)


def test_categories_list_code_chinese_name_and_time_limit(client, login):
    login("shouli")
    data = client.get(reverse("cases:api-categories")).json()
    assert len(data) == 16
    wage = next(c for c in data if c["code"] == "wage")
    assert wage["name"] == "劳资纠纷"
    assert wage["time_limit_working_days"] == 10
    assert wage["time_limits"]["normal"] == {"amount": 10, "unit": "working_days"}
    assert {"劳资纠纷", "群众求助", "劳动保障", "买卖纠纷"} <= {c["name"] for c in data}


def test_post_creates_a_case_in_its_grid(client, login, inside, wangge_grid):
    login("shouli")
    response = post(client, body(inside))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "registered"
    assert data["grid"] == wangge_grid.code
    assert isinstance(data["id"], int)
    case = Case.objects.get(pk=data["id"])
    assert case.source == "police_110" and case.deadline is not None


def test_a_retry_with_the_same_idempotency_key_creates_one_case(client, login, inside):
    login("shouli")
    before = Case.objects.count()
    first = post(client, body(inside), HTTP_IDEMPOTENCY_KEY="hotline-2026-0001")
    again = post(client, body(inside), HTTP_IDEMPOTENCY_KEY="hotline-2026-0001")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert Case.objects.count() == before + 1


def test_a_retry_is_answered_even_if_its_body_no_longer_validates(client, login, inside):
    # The hotline retries after a timeout; meanwhile the category was retired.
    from cases.models import Category

    login("shouli")
    first = post(client, body(inside), HTTP_IDEMPOTENCY_KEY="hotline-2026-0002")
    Category.objects.filter(code="wage").update(active=False)
    again = post(client, body(inside), HTTP_IDEMPOTENCY_KEY="hotline-2026-0002")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_another_clients_idempotency_key_reveals_nothing(client, login, inside):
    login("shouli")
    first = post(client, body(inside, description="张三家门口"), HTTP_IDEMPOTENCY_KEY="ticket-77")
    assert first.status_code == 201
    login("chuanfang")
    before = Case.objects.count()
    other = post(client, body(inside), HTTP_IDEMPOTENCY_KEY="ticket-77")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    text = other.content.decode()
    assert first.json()["number"] not in text and "张三" not in text
    assert Case.objects.count() == before


def test_a_case_outside_every_grid_goes_to_the_unassigned_queue(client, login):
    login("shouli")
    response = post(client, body(None, location={"type": "Point", "coordinates": [102.40, 24.70]}))
    assert response.status_code == 201
    data = response.json()
    assert data["grid"] is None and data["status"] == "registered"
    # Even far outside the district.
    response = post(client, body(None, location={"type": "Point", "coordinates": [116.39, 39.91]}))
    assert response.status_code == 201 and response.json()["grid"] is None


def test_gcj02_input_is_converted_before_the_grid_is_found(client, login, inside, wangge_grid):
    from layers.crs import wgs84_to_gcj02

    login("shouli")
    x, y = wgs84_to_gcj02(inside.x, inside.y)
    data = body(None, location={"type": "Point", "coordinates": [float(x), float(y)]}, crs="gcj02")
    response = post(client, data)
    assert response.status_code == 201
    assert response.json()["grid"] == wangge_grid.code


@pytest.mark.parametrize(
    "change, field",
    [
        ({"source": "fax"}, "source"),
        ({"category": "nope"}, "category"),
        ({"description": ""}, "description"),
        ({"location": {"type": "Point", "coordinates": ["a", 1]}}, "location"),
        ({"location": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}, "location"),
        ({"location": {"type": "Point", "coordinates": [24.98, 102.66]}}, "location"),
        ({"crs": "epsg:9999"}, "crs"),
        ({"parties": [{"name": "李四", "phone": "123"}]}, "parties"),
        ({"parties": [{"name": "李四", "id_number": "530112199001011235"}]}, "parties"),
    ],
)
def test_bad_input_answers_400_in_both_languages(client, login, inside, change, field):
    login("shouli")
    before = Case.objects.count()
    response = post(client, body(inside, **change))
    assert response.status_code == 400, response.content
    text = str(response.json()[field])
    assert " / " in text, text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text
    assert Case.objects.count() == before


def test_a_missing_location_is_explained(client, login, inside):
    login("shouli")
    data = body(inside)
    del data["location"]
    response = post(client, data)
    assert response.status_code == 400
    assert "GeoJSON" in str(response.json()["location"])


@pytest.mark.parametrize(
    "crs_member",
    [
        {"type": "name", "properties": {"name": "EPSG:3857"}},
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        None,
    ],
)
def test_a_location_with_a_crs_member_is_refused_and_the_crs_parameter_named(
    client, login, inside, crs_member
):
    login("shouli")
    before = Case.objects.count()
    location = {"type": "Point", "coordinates": [inside.x, inside.y], "crs": crs_member}
    response = post(client, body(None, location=location))
    assert response.status_code == 400, response.content
    text = str(response.json()["location"])
    assert "RFC 7946" in text and "WGS84" in text and "crs 参数" in text, text
    assert "crs parameter" in text and "gcj02" in text, text
    assert Case.objects.count() == before


def test_parties_are_masked_in_the_answer(client, login, inside):
    login("shouli")
    data = body(inside, parties=[{"name": "王五", "phone": "13912345678"}])
    answer = post(client, data).json()
    assert answer["parties"] == [
        {"role": "applicant", "name": "王*", "phone": "139****5678", "id_number": ""}
    ]


def test_an_analyst_may_not_register_and_anonymous_users_are_refused(client, login, inside):
    assert post(client, body(inside)).status_code == 403
    login("fenxi")
    assert post(client, body(inside)).status_code == 403


def test_actions_over_the_api_and_a_conflict_is_409(client, login, inside):
    login("shouli")
    case_id = post(client, body(inside)).json()["id"]
    url = reverse("cases:api-case-action", args=[case_id, "accept"])
    answer = client.post(url, {"version": 1}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    stale = client.post(
        reverse("cases:api-case-action", args=[case_id, "dispatch"]),
        {"version": 1},
        content_type="application/json",
    )
    assert stale.status_code == 409 and "changed" in stale.json()["detail"]
    illegal = client.post(
        reverse("cases:api-case-action", args=[case_id, "close"]),
        {"version": 2},
        content_type="application/json",
    )
    assert illegal.status_code == 400
    assert "不能" in illegal.json()["detail"] and "cannot" in illegal.json()["detail"]


def test_auto_dispatch_goes_to_the_grid_worker(client, login, inside):
    login("shouli")
    data = post(client, body(inside, auto_dispatch=True)).json()
    assert data["status"] == Status.DISPATCHED
    assert data["handlers"][0]["role"] == "lead"


def test_duplicates_endpoint_lists_nearby_open_cases(client, login, inside, make_case):
    near = make_case(status=Status.ACCEPTED)
    login("shouli")
    url = reverse("cases:api-duplicates")
    found = client.get(url, {"category": "wage", "lon": inside.x, "lat": inside.y}).json()
    assert near.number in [c["number"] for c in found]
    other = client.get(url, {"category": "noise", "lon": inside.x, "lat": inside.y}).json()
    assert near.number not in [c["number"] for c in other]


def test_the_case_answer_is_what_its_declared_fields_give(client, login, inside, make_case):
    """CaseSerializer builds its answer directly; it must equal DRF's from the fields."""
    from rest_framework import serializers

    from cases.api import CaseSerializer
    from cases.models import Party

    outside = Point(102.0, 24.0, srid=4326)
    cases = [
        make_case(),
        make_case(status=Status.DISPATCHED, urgency="urgent", title="标题", address="某路1号"),
        make_case(status=Status.CLOSED),
        make_case(location=outside),
    ]
    Party.objects.create(case=cases[0], role="applicant", name="王五")
    merged = make_case()
    Case.objects.filter(pk=merged.pk).update(merged_into=cases[1], difficult=True)
    cases.append(merged)
    login("shouli")
    for case in cases:
        case = Case.objects.select_related(
            "category", "grid", "community", "street", "merged_into"
        ).get(pk=case.pk)
        ours = CaseSerializer(case).data
        drf = serializers.ModelSerializer.to_representation(CaseSerializer(case), case)
        assert dict(ours) == dict(drf)
    # The list and the detail answer the same.
    detail = client.get(reverse("cases:api-case", args=[merged.pk])).json()
    assert detail["merged_into"] == cases[1].number and detail["difficult"] is True
    assert detail["reported_at"].endswith("+08:00")


def test_an_intake_writes_the_cases_version_once_after_its_transaction(
    client, login, inside, monkeypatch
):
    """The case and its event each bump the map version; the request writes it once."""
    from django.db import connection

    from gridmap import tiles

    writes = []
    real = tiles._write_bumps

    def record(names):
        # After the view's transaction: only the test's own outer block is open.
        writes.append((set(names), len(connection.atomic_blocks)))
        real(names)

    monkeypatch.setattr(tiles, "_write_bumps", record)
    login("shouli")
    assert post(client, body(inside)).status_code == 201
    assert writes == [({"cases"}, 1)]
    # Outside a request a save writes at once, as before.
    writes.clear()
    case = Case.objects.latest("id")
    case.save()
    assert writes == [({"cases"}, 1)]
