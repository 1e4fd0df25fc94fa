"""Bulk reads of personal data: a per-user budget, 429 with Retry-After beyond it.

Issue 14, finding 7: paging through every person of a community centre, or 10,000 rental
houses a request, was neither audited nor limited. Which routes are bulk reads and what
their audit entries hold: tests/test_authorisation_matrix.py (the bulk-read block).
"""

import base64
import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from tests.test_authorisation_matrix import twin

PERSONS = "/api/v1/persons/"


def _spend(user, *, rows=0, requests=1, ago=0):
    """Write `requests` past bulk reads of the user, `ago` seconds ago, `rows` in all."""
    at = timezone.now() - datetime.timedelta(seconds=ago)
    for i in range(requests):
        AuditEntry.objects.create(
            user=user,
            username=user.username,
            role=user.role,
            action="bulk_read",
            at=at,
            detail={"rows": rows if i == 0 else 0},
        )


@pytest.fixture
def budget(settings):
    settings.BULK_READ_WINDOW_SECONDS = 600
    settings.BULK_READ_MAX_REQUESTS = 5
    settings.BULK_READ_MAX_ROWS = 1000
    return settings


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_user_over_the_request_budget_gets_429_with_retry_after(budget, db):
    chuanfang = twin("chuanfang")
    _spend(chuanfang, requests=2, ago=400)
    _spend(chuanfang, requests=2, ago=100)
    client = _client(chuanfang)
    assert client.get(PERSONS, {"limit": "1"}).status_code == 200  # the fifth
    before = AuditEntry.objects.filter(user=chuanfang).count()
    response = client.get(PERSONS, {"limit": "1"})
    assert response.status_code == 429
    # The oldest reads (400 s before the test's first request) leave the window within
    # 200 s, and then one more read fits.
    assert 100 < int(response["Retry-After"]) <= 200
    body = response.json()
    assert "批量读取个人信息过于频繁" in body["detail"] and "too many bulk reads" in body["detail"]
    assert "features" not in body
    # Refused: nothing read, nothing more in the log.
    assert AuditEntry.objects.filter(user=chuanfang).count() == before
    # Other users keep their own budget.
    assert _client(twin("majie")).get(PERSONS, {"limit": "1"}).status_code == 200


def test_a_user_over_the_row_budget_gets_429(budget, db):
    zhihui = twin("zhihui")
    _spend(zhihui, rows=1000, ago=30)
    response = _client(zhihui).get(
        reverse("interop:ogc-items", kwargs={"collection_id": "rentals"})
    )
    assert response.status_code == 429
    assert 500 < int(response["Retry-After"]) <= 570


def test_reads_older_than_the_window_do_not_count(budget, db):
    from accounts import bulk_reads

    zhihui = twin("zhihui")
    _spend(zhihui, requests=5, rows=5000, ago=601)
    assert _client(zhihui).get(PERSONS, {"limit": "1"}).status_code == 200
    assert bulk_reads.retry_after(zhihui) is None


def test_an_api_token_has_the_budget_of_its_service_account(budget, db):
    from accounts import services

    majie = twin("majie")
    _token, key = services.issue_api_token(name="gis", user=majie, scopes=["layers:read"])
    _spend(majie, requests=5)
    url = reverse("interop:ogc-items", kwargs={"collection_id": "rentals"})
    basic = base64.b64encode(f"qgis:{key}".encode()).decode()  # how QGIS sends it
    for auth in (f"Bearer {key}", f"Basic {basic}"):
        response = Client().get(url, HTTP_AUTHORIZATION=auth)
        assert response.status_code == 429, auth
        assert response["Retry-After"]


def test_open311_searches_count_and_keep_the_api_key_out_of_the_log(budget, db):
    from accounts import services

    shouli = twin("shouli")
    _token, key = services.issue_api_token(name="12345", user=shouli, scopes=["cases:read"])
    url = reverse("interop:open311-requests", kwargs={"fmt": "json"})
    response = Client().get(url, {"api_key": key, "status": "open"})
    assert response.status_code == 200
    entry = AuditEntry.objects.get(user=shouli, action="bulk_read")
    assert entry.detail["query"] == {"status": "open"} and entry.detail["rows"] == len(
        response.json()
    )
    assert key not in entry.path and key not in str(entry.detail)
    _spend(shouli, requests=4)
    assert Client().get(url, {"api_key": key}).status_code == 429


def test_the_admin_over_budget_gets_a_page(budget, db):
    admin = twin("admin")
    _spend(admin, requests=5)
    response = _client(admin).get("/admin/layers/person/", HTTP_ACCEPT="text/html")
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert "批量读取个人信息过于频繁" in response.content.decode()


def test_qgis_paging_a_streets_rental_layer_fits_the_default_budget(db, settings):
    """QGIS asks for 1,000 features a page (the OGC default of 10 raised to 1,000)."""
    from layers.models import RentalHouse

    assert settings.BULK_READ_MAX_REQUESTS == 600 and settings.BULK_READ_MAX_ROWS == 50_000
    zhihui = twin("zhihui")
    fuhai = zhihui.district.streets.get(name="福海街道")
    expected = RentalHouse.objects.filter(street=fuhai).count()
    assert expected > 5000  # Chuanfang's 6,000 rental houses
    client = _client(zhihui)
    url = reverse("interop:ogc-items", kwargs={"collection_id": "rentals"})
    box = ",".join(str(v) for v in fuhai.geom.extent)
    seen, offset = 0, 0
    while True:
        response = client.get(url, {"bbox": box, "limit": "1000", "offset": str(offset)})
        assert response.status_code == 200, response.content[:200]
        seen += response.json()["numberReturned"]
        if not any(link["rel"] == "next" for link in response.json()["links"]):
            break
        offset += 1000
    assert seen >= expected
    pages = AuditEntry.objects.filter(user=zhihui, action="bulk_read")
    assert pages.count() == offset // 1000 + 1
    assert sum(entry.detail["rows"] for entry in pages) == seen
