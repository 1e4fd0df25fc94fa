import datetime

import pytest
from django.contrib.auth import authenticate
from django.urls import reverse
from django.utils import timezone

from accounts.models import LoginThrottle


def _login(client, password, ip="10.9.9.9", username="majie"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_five_failures_lock_the_user_name_from_that_address(client, db, demo_password):
    for _ in range(5):
        assert _login(client, "wrong-password").status_code == 200
    response = _login(client, demo_password)
    assert response.status_code == 200  # the form again, not the redirect of a log-in
    assert "锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked, and a success clears its failures.
    assert _login(client, demo_password, ip="10.8.8.8").status_code == 302


def test_the_lock_ends_after_fifteen_minutes(client, db, demo_password):
    for _ in range(5):
        _login(client, "wrong-password")
    row = LoginThrottle.objects.get(username="majie", ip="10.9.9.9")
    assert row.locked_until - timezone.now() > datetime.timedelta(minutes=14)
    LoginThrottle.objects.filter(pk=row.pk).update(locked_until=timezone.now())
    assert _login(client, demo_password).status_code == 302
    assert not LoginThrottle.objects.filter(username="majie", ip="10.9.9.9").exists()


def test_failures_below_the_limit_do_not_lock(client, db, demo_password):
    for _ in range(4):
        _login(client, "wrong-password")
    assert _login(client, demo_password).status_code == 302


def test_the_lock_covers_every_password_log_in_including_the_admin(rf, db, demo_password):
    request = rf.post("/admin/login/", REMOTE_ADDR="10.7.7.7")
    for _ in range(5):
        assert authenticate(request, username="admin", password="nope") is None
    assert authenticate(request, username="admin", password=demo_password) is None
    other = rf.post("/admin/login/", REMOTE_ADDR="10.7.7.8")
    assert authenticate(other, username="admin", password=demo_password) is not None


def test_user_name_case_does_not_dodge_the_lock(client, db, demo_password):
    for name in ["majie", "MAJIE", "Majie", "maJie", "majiE"]:
        _login(client, "wrong-password", username=name)
    assert _login(client, demo_password).status_code == 200


def _session_row(client):
    from django.contrib.sessions.models import Session

    return Session.objects.get(session_key=client.session.session_key)


def test_sessions_expire_after_thirty_idle_minutes(client, db, demo_password):
    assert _login(client, demo_password).status_code == 302
    row = _session_row(client)
    left = row.expire_date - timezone.now()
    assert datetime.timedelta(minutes=29) < left <= datetime.timedelta(minutes=30)
    assert client.get(reverse("cases:list")).status_code == 200
    # Thirty idle minutes later the session is gone: the next page asks for a log-in.
    type(row).objects.filter(pk=row.pk).update(expire_date=timezone.now())
    response = client.get(reverse("cases:list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_use_keeps_the_session_alive_without_a_write_per_request(client, db, demo_password):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gridmap.middleware import SessionIdleRefreshMiddleware

    assert _login(client, demo_password).status_code == 302
    row = _session_row(client)
    # Within the minute: a burst of requests (a wall map's tiles) writes no session row.
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert client.get(reverse("cases:list")).status_code == 200
    writes = [q["sql"] for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert writes == []
    assert _session_row(client).expire_date == row.expire_date
    # Ten minutes into a thirty-minute idle limit, the next request pushes the expiry back.
    session = client.session
    session[SessionIdleRefreshMiddleware.KEY] -= 600
    session.save()
    type(row).objects.filter(pk=row.pk).update(
        expire_date=timezone.now() + datetime.timedelta(minutes=20)
    )
    assert client.get(reverse("cases:list")).status_code == 200
    left = _session_row(client).expire_date - timezone.now()
    assert left > datetime.timedelta(minutes=29)


def test_passwords_are_validated(db):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ["12345678901", "password123", "short"]:
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("Xishan-demo-2026-long")
