"""Contract tests of Open311 GeoReport v2 at /open311/v2/: every response shape, JSON and XML."""

import json
from xml.etree import ElementTree as ET

import pytest

from cases.models import Case, Category, Status

SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
ATTRIBUTE_FIELDS = {
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
POST_FIELDS = {"service_request_id", "service_notice", "account_id"}
# A point inside Chuanfang (船房), an urban village of the demo district.
LAT, LONG = "24.9855", "102.6745"


def parse(response, fmt):
    if fmt == "json":
        assert response["Content-Type"].startswith("application/json")
        return json.loads(response.content)
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def children(element):
    return [child.tag for child in element]


def assert_error(response, fmt, status):
    assert response.status_code == status
    body = parse(response, fmt)
    if fmt == "json":
        assert isinstance(body, list) and len(body) == 1
        assert set(body[0]) == {"code", "description"}
        assert body[0]["code"] == status
        assert " / " in body[0]["description"]  # bilingual
        return body[0]["description"]
    assert body.tag == "errors"
    error = body.find("error")
    assert children(error) == ["code", "description"]
    assert error.findtext("code") == str(status)
    assert " / " in error.findtext("description")
    return error.findtext("description")


@pytest.fixture
def hotline(token):
    """An api_key of the 12345 hotline's service account (intake role, whole district)."""
    return token("shouli", scopes=["cases:create", "cases:read"])


def submit(client, key, fmt="json", headers=None, **fields):
    data = {
        "api_key": key,
        "service_code": Category.objects.filter(active=True).first().code,
        "lat": LAT,
        "long": LONG,
        "description": "楼道堆放杂物，影响消防通道",
        "address_string": "船房社区 12 号",
        "first_name": "小明",
        "last_name": "王",
        "phone": "13800138000",
        **fields,
    }
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"/open311/v2/requests.{fmt}", data, **(headers or {}))


# --- discovery and services --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_document(client, db, fmt):
    response = client.get(f"/open311/v2/discovery.{fmt}")
    assert response.status_code == 200
    body = parse(response, fmt)
    if fmt == "json":
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
        endpoint = body["endpoints"][0]
        formats = endpoint["formats"]
    else:
        assert body.tag == "discovery"
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(children(body))
        xml_endpoint = body.find("endpoints/endpoint")
        endpoint = {c.tag: c.text for c in xml_endpoint}
        formats = [f.text for f in xml_endpoint.findall("formats/format")]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] == "production"
    assert set(formats) == {"application/json", "text/xml"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_list_the_active_categories(client, db, fmt):
    response = client.get(f"/open311/v2/services.{fmt}")
    assert response.status_code == 200
    body = parse(response, fmt)
    active = list(Category.objects.filter(active=True).values_list("code", flat=True))
    if fmt == "json":
        assert [s["service_code"] for s in body] == active
        for service in body:
            assert set(service) == SERVICE_FIELDS
            assert service["metadata"] is True and service["type"] == "realtime"
    else:
        assert body.tag == "services"
        assert [s.findtext("service_code") for s in body.findall("service")] == active
        for service in body.findall("service"):
            assert set(children(service)) == SERVICE_FIELDS
            assert service.findtext("metadata") == "true"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definition_has_the_urgency_attribute(client, db, fmt):
    code = Category.objects.filter(active=True).first().code
    response = client.get(f"/open311/v2/services/{code}.{fmt}")
    assert response.status_code == 200
    body = parse(response, fmt)
    if fmt == "json":
        assert body["service_code"] == code
        attribute = body["attributes"][0]
        assert set(attribute) == ATTRIBUTE_FIELDS
        assert attribute["datatype"] == "singlevaluelist"
        assert [v["key"] for v in attribute["values"]] == ["normal", "urgent", "critical"]
        assert all(set(v) == {"key", "name"} for v in attribute["values"])
    else:
        assert body.tag == "service_definition"
        assert body.findtext("service_code") == code
        attribute = body.find("attributes/attribute")
        assert set(children(attribute)) == ATTRIBUTE_FIELDS
        assert [v.findtext("key") for v in attribute.findall("values/value")] == [
            "normal",
            "urgent",
            "critical",
        ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_and_jurisdiction_are_404(client, db, fmt):
    assert_error(client.get(f"/open311/v2/services/no-such-thing.{fmt}"), fmt, 404)
    assert_error(client.get(f"/open311/v2/services.{fmt}?jurisdiction_id=999999"), fmt, 404)
    assert client.get(f"/open311/v2/services.{fmt}?jurisdiction_id=530112").status_code == 200


def test_unsupported_format_is_400(client, db):
    assert_error(client.get("/open311/v2/services.csv"), "json", 400)


# --- POST requests -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_request_registers_a_case_through_intake(client, hotline, fmt):
    response = submit(client, hotline, fmt)
    assert response.status_code == 201, response.content
    body = parse(response, fmt)
    if fmt == "json":
        assert len(body) == 1 and set(body[0]) == POST_FIELDS
        number = body[0]["service_request_id"]
        assert body[0]["account_id"] is None
    else:
        assert body.tag == "service_requests"
        request = body.find("request")
        assert set(children(request)) == POST_FIELDS
        number = request.findtext("service_request_id")
    case = Case.objects.get(number=number)
    assert case.status == Status.REGISTERED
    assert case.source == "hotline_12345"
    assert case.grid is not None and case.community.name == "船房社区"  # grid assignment
    assert abs(case.location.x - float(LONG)) < 1e-9 and abs(case.location.y - float(LAT)) < 1e-9
    party = case.parties.get()
    assert party.name == "王小明" and party.phone_masked == "138****8000"
    assert case.events.get().action == "register"


def test_post_with_idempotency_key_returns_the_first_case(client, hotline):
    headers = {"HTTP_IDEMPOTENCY_KEY": "hotline-20261128-0001"}
    first = submit(client, hotline, headers=headers)
    again = submit(client, hotline, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert json.loads(first.content) == json.loads(again.content)
    assert Case.objects.filter(idempotency_key="hotline-20261128-0001").count() == 1


def test_post_reports_a_possible_duplicate_in_service_notice(client, hotline):
    first = json.loads(submit(client, hotline).content)[0]
    second = json.loads(submit(client, hotline).content)[0]
    assert first["service_request_id"] in second["service_notice"]
    assert "possible duplicate" in second["service_notice"]


def test_post_by_address_id_uses_the_rental_house(client, hotline):
    from layers.models import RentalHouse

    house = RentalHouse.objects.filter(grid__isnull=False).first()
    response = submit(client, hotline, lat=None, long=None, address_id=house.code)
    assert response.status_code == 201, response.content
    case = Case.objects.get(number=json.loads(response.content)[0]["service_request_id"])
    assert case.rental_house == house and case.grid_id == house.grid_id


def test_post_gcj02_coordinates_are_converted(client, hotline):
    response = submit(client, hotline, crs="gcj02")
    case = Case.objects.get(number=json.loads(response.content)[0]["service_request_id"])
    # GCJ-02 lies a few hundred metres off WGS84 in Kunming.
    assert (
        100
        < case.location.transform(4543, clone=True).distance(
            type(case.location)(float(LONG), float(LAT), srid=4326).transform(4543, clone=True)
        )
        < 1000
    )


def test_post_accepts_a_json_body(client, hotline):
    code = Category.objects.filter(active=True).first().code
    response = client.post(
        "/open311/v2/requests.json",
        json.dumps(
            {
                "api_key": hotline,
                "service_code": code,
                "lat": 24.979,
                "long": 102.666,
                "description": "噪音扰民",
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_errors_are_403_400_404(client, hotline, token, fmt):
    assert_error(submit(client, None, fmt), fmt, 403)
    assert_error(submit(client, "gm_nonsense", fmt), fmt, 403)
    read_only = token("shouli", scopes=["cases:read"])
    assert_error(submit(client, read_only, fmt), fmt, 403)
    analyst = token("fenxi", scopes=["cases:create"])
    assert_error(submit(client, analyst, fmt), fmt, 403)
    assert_error(submit(client, hotline, fmt, service_code=""), fmt, 400)
    assert_error(submit(client, hotline, fmt, service_code="no-such-service"), fmt, 404)
    assert_error(submit(client, hotline, fmt, description=""), fmt, 400)
    assert_error(submit(client, hotline, fmt, description="长" * 4001), fmt, 400)
    text = assert_error(submit(client, hotline, fmt, lat=None, long=None), fmt, 400)
    assert "address_string" in text
    assert_error(submit(client, hotline, fmt, lat="north"), fmt, 400)
    assert_error(submit(client, hotline, fmt, lat="95"), fmt, 400)
    assert_error(submit(client, hotline, fmt, long=None), fmt, 400)
    assert_error(submit(client, hotline, fmt, lat="0", long="0"), fmt, 400)
    assert_error(submit(client, hotline, fmt, phone="12345"), fmt, 400)
    assert_error(submit(client, hotline, fmt, address_id="NO-SUCH-HOUSE"), fmt, 400)
    assert_error(submit(client, hotline, fmt, **{"attribute[urgency]": "asap"}), fmt, 400)
    assert_error(submit(client, hotline, fmt, crs="mars"), fmt, 400)
    assert_error(submit(client, hotline, fmt, jurisdiction_id="000000"), fmt, 404)
    assert not Case.objects.filter(description="长" * 4001).exists()


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x@@example.com", "王@", "a" * 400])
def test_post_with_an_invalid_email_is_400_and_writes_nothing(client, hotline, fmt, email):
    before = Case.objects.count()
    text = assert_error(submit(client, hotline, fmt, email=email), fmt, 400)
    assert "email" in text and "电子邮件" in text
    assert Case.objects.count() == before


def test_post_with_a_valid_email_is_accepted(client, hotline):
    response = submit(client, hotline, email="wang.xiaoming@example.cn")
    assert response.status_code == 201, response.content


# --- GET requests ------------------------------------------------------------------------


def _requests(body, fmt):
    """Return the request rows of a service_requests answer as dicts of text (XML) or values."""
    if fmt == "json":
        assert isinstance(body, list)
        for row in body:
            assert set(row) == REQUEST_FIELDS
        return body
    assert body.tag == "service_requests"
    rows = []
    for request in body.findall("request"):
        assert set(children(request)) == REQUEST_FIELDS
        rows.append({c.tag: c.text for c in request})
    return rows


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_request_by_id_has_every_spec_field(client, hotline, fmt):
    number = json.loads(submit(client, hotline).content)[0]["service_request_id"]
    response = client.get(f"/open311/v2/requests/{number}.{fmt}?api_key={hotline}")
    assert response.status_code == 200
    [row] = _requests(parse(response, fmt), fmt)
    assert row["service_request_id"] == number
    assert row["status"] == "open"
    assert "registered" in row["status_notes"]
    assert row["service_code"] == Category.objects.filter(active=True).first().code
    assert row["description"] == "楼道堆放杂物，影响消防通道"
    assert row["address"] == "船房社区 12 号"
    assert float(row["lat"]) == pytest.approx(float(LAT))
    assert float(row["long"]) == pytest.approx(float(LONG))
    assert row["requested_datetime"].endswith("+08:00")
    assert row["expected_datetime"] > row["requested_datetime"]
    assert row["agency_responsible"]
    if fmt == "json":
        assert row["zipcode"] is None and row["media_url"] is None
    else:
        assert row["zipcode"] is None  # an empty element


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_workflow_maps_to_open_and_closed_with_progress_notes(client, hotline, fmt):
    from accounts.models import User
    from cases import services

    clerk = User.objects.get(username="shouli")
    number = json.loads(submit(client, hotline).content)[0]["service_request_id"]
    case = Case.objects.get(number=number)

    def row():
        response = client.get(f"/open311/v2/requests/{number}.{fmt}?api_key={hotline}")
        return _requests(parse(response, fmt), fmt)[0]

    services.case_accept(case=case, by=clerk, auto_dispatch=True)
    dispatched = row()
    assert dispatched["status"] == "open"
    assert "dispatched" in dispatched["status_notes"]
    assert dispatched["agency_responsible"] != "西山区网格化服务管理中心"

    refused_number = json.loads(submit(client, hotline, description="重复来电").content)[0][
        "service_request_id"
    ]
    services.case_refuse(
        case=Case.objects.get(number=refused_number), by=clerk, reason="不属于受理范围"
    )
    response = client.get(f"/open311/v2/requests/{refused_number}.{fmt}?api_key={hotline}")
    refused = _requests(parse(response, fmt), fmt)[0]
    assert refused["status"] == "closed"
    assert "不属于受理范围" in refused["status_notes"]

    closed = Case.objects.filter(status=Status.CLOSED).first()
    response = client.get(f"/open311/v2/requests/{closed.number}.{fmt}?api_key={hotline}")
    assert _requests(parse(response, fmt), fmt)[0]["status"] == "closed"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_filters(client, hotline, fmt):
    first = json.loads(submit(client, hotline).content)[0]["service_request_id"]
    second = json.loads(submit(client, hotline, description="另一件").content)[0][
        "service_request_id"
    ]
    base = f"/open311/v2/requests.{fmt}?api_key={hotline}"

    def ids(query=""):
        response = client.get(base + query)
        assert response.status_code == 200, response.content
        return [r["service_request_id"] for r in _requests(parse(response, fmt), fmt)]

    assert set(ids(f"&service_request_id={first},{second}")) == {first, second}
    # With service_request_id every other filter is ignored.
    assert ids(f"&service_request_id={first}&status=closed") == [first]
    recent = ids()
    assert first in recent and second in recent
    assert len(recent) <= 1000
    code = Category.objects.filter(active=True).first().code
    assert all(
        Case.objects.get(number=n).category.code == code for n in ids(f"&service_code={code}")
    )
    open_ids, closed_ids = ids("&status=open"), ids("&status=closed")
    assert first in open_ids and first not in closed_ids
    assert all(
        Case.objects.get(number=n).status in ("closed", "refused", "merged") for n in closed_ids
    )
    assert ids("&start_date=2000-01-01T00:00:00Z&end_date=2000-12-31T00:00:00Z") == []
    assert first in ids("&start_date=2000-01-01T00:00:00%2B08:00")
    assert first not in ids("&end_date=2001-01-01")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_errors(client, hotline, token, fmt):
    base = f"/open311/v2/requests.{fmt}"
    assert_error(client.get(base), fmt, 403)
    assert_error(client.get(f"{base}?api_key=gm_bad"), fmt, 403)
    create_only = token("shouli", scopes=["cases:create"])
    assert_error(client.get(f"{base}?api_key={create_only}"), fmt, 403)
    assert_error(client.get(f"{base}?api_key={hotline}&status=pending"), fmt, 400)
    assert_error(client.get(f"{base}?api_key={hotline}&start_date=yesterday"), fmt, 400)
    assert_error(
        client.get(f"{base}?api_key={hotline}&start_date=2026-02-01&end_date=2026-01-01"), fmt, 400
    )
    assert_error(client.get(f"/open311/v2/requests/XS0.{fmt}?api_key={hotline}"), fmt, 404)
    assert_error(client.get(f"/open311/v2/requests/XS0.{fmt}"), fmt, 403)


def test_get_requests_are_scoped_to_the_keys_account(client, hotline, token):
    number = json.loads(submit(client, hotline).content)[0]["service_request_id"]
    elsewhere = token("majie", scopes=["cases:read"])  # 马街 street, not 福海/船房
    response = client.get(f"/open311/v2/requests/{number}.json?api_key={elsewhere}")
    assert_error(response, "json", 404)


def test_session_may_read_requests(client, hotline, login):
    number = json.loads(submit(client, hotline).content)[0]["service_request_id"]
    login("zhihui")
    response = client.get(f"/open311/v2/requests/{number}.json")
    assert response.status_code == 200


def test_bearer_header_is_accepted_as_api_key(client, hotline):
    number = json.loads(submit(client, hotline).content)[0]["service_request_id"]
    response = client.get(
        f"/open311/v2/requests/{number}.xml", HTTP_AUTHORIZATION=f"Bearer {hotline}"
    )
    assert response.status_code == 200


def test_xml_stays_well_formed_with_control_characters(client, hotline):
    response = submit(client, hotline, description="漏水\x0b\x01 严重 <b>&</b>")
    number = json.loads(response.content)[0]["service_request_id"]
    response = client.get(f"/open311/v2/requests/{number}.xml?api_key={hotline}")
    [row] = _requests(parse(response, "xml"), "xml")
    assert row["description"] == "漏水 严重 <b>&</b>"
