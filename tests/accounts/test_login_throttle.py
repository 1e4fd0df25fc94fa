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


@pytest.mark.parametrize(
    "setting,value",
    [("SESSION_COOKIE_AGE", 30 * 60), ("SESSION_SAVE_EVERY_REQUEST", True)],
)
def test_sessions_expire_after_thirty_idle_minutes(settings, setting, value):
    assert getattr(settings, setting) == value


def test_passwords_are_validated(db):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ["12345678901", "password123", "short"]:
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("Xishan-demo-2026-long")
