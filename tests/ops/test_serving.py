"""Production serving pieces: 503 on database outages, JSON logs, the jobs' heartbeat."""

import json
import logging
import sys

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from gridmap import health, outage
from gridmap.logging import JsonFormatter
from gridmap.models import JobHeartbeat


def _boom(*args, **kwargs):
    raise OperationalError("could not connect to server: Connection refused")


def test_api_answers_503_with_a_bilingual_message_when_the_database_is_down(
    client, login, monkeypatch
):
    login("shouli")
    monkeypatch.setattr("cases.selectors.cases_visible_to", _boom)
    response = client.get("/api/v1/cases/")
    assert response.status_code == 503
    assert "数据库暂时不可用" in response.json()["detail"]
    assert "Database unavailable" in response.json()["detail"]
    assert response["Retry-After"]


def test_pages_answer_a_503_page_in_chinese_and_english_not_a_500(client, login, monkeypatch):
    login("zhihui")
    monkeypatch.setattr("cases.selectors.cases_visible_to", _boom)
    response = client.get("/cases/")
    assert response.status_code == 503
    html = response.content.decode()
    assert "服务暂时不可用" in html and "Service unavailable" in html
    assert "Traceback" not in html


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_an_outage_outside_the_view_still_ends_as_503(error):
    request = RequestFactory().get("/map/wall/")
    try:
        raise error("connection already closed")
    except error:
        response = outage.server_error(request)
    assert response.status_code == 503
    assert "数据库暂时不可用" in response.content.decode()
    request = RequestFactory().get("/api/v1/cases/")
    try:
        raise error("server closed the connection unexpectedly")
    except error:
        response = outage.server_error(request)
    assert response.status_code == 503
    assert json.loads(response.content)["detail"].startswith("数据库暂时不可用")


def test_other_errors_remain_500():
    request = RequestFactory().get("/")
    try:
        raise ValueError("bug")
    except ValueError:
        response = outage.server_error(request)
    assert response.status_code == 500


def test_json_log_lines_carry_fields_extra_and_exceptions():
    formatter = JsonFormatter()
    record = logging.LogRecord("gridmap.x", logging.WARNING, __file__, 1, "案件 %s", ("A1",), None)
    record.case_id = 7
    line = json.loads(formatter.format(record))
    assert line["msg"] == "案件 A1" and line["level"] == "WARNING" and line["case_id"] == 7
    assert line["ts"].endswith("+00:00") and line["logger"] == "gridmap.x"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "RuntimeError: boom" in json.loads(formatter.format(record))["exc"]
    atoms = {"h": "127.0.0.1", "m": "POST", "U": "/api/v1/cases/", "s": "201", "M": "12"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(h)s", (), None)
    record.args = atoms
    line = json.loads(formatter.format(record))
    assert line["method"] == "POST" and line["status"] == 201 and line["duration_ms"] == 12


@pytest.mark.django_db
def test_healthz_requires_a_recent_successful_job_pass_when_configured(client, settings):
    settings.HEALTHZ_REQUIRE_JOBS = True
    JobHeartbeat.objects.all().delete()
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["jobs"]["status"] == "none"

    health.beat(ok=True)
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "jobs": response.json()["jobs"] | {"status": "ok", "workers": 1},
    }

    # The worker's last pass failed (the database blinked): not healthy until it succeeds.
    JobHeartbeat.objects.update(ok_at=timezone.now() - timezone.timedelta(hours=1))
    health.beat(ok=False, error="connection refused")
    body = client.get(reverse("healthz")).json()
    assert body["jobs"]["status"] == "failing" and "refused" in body["jobs"]["error"]

    # No pass for longer than JOBS_STALE_SECONDS: stale.
    JobHeartbeat.objects.update(beat_at=timezone.now() - timezone.timedelta(hours=2))
    response = client.get(reverse("healthz"))
    assert response.status_code == 503 and response.json()["jobs"]["status"] == "stale"

    settings.HEALTHZ_REQUIRE_JOBS = False
    assert client.get(reverse("healthz")).status_code == 200
