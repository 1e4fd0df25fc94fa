import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test import override_settings

BASE = Path(django_settings.BASE_DIR)


def _production_env(**extra):
    env = dict(os.environ)
    env.update(
        GRIDMAP_ENV="production",
        SECRET_KEY=base64.urlsafe_b64encode(os.urandom(48)).decode(),
        PII_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        PII_HMAC_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        ALLOWED_HOSTS="gridmap.xishan.example.cn",
        DJANGO_SETTINGS_MODULE="gridmap.settings",
    )
    env.pop("DEBUG", None)
    env.update(extra)
    return env


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _issue_ids(output):
    return re.findall(r"^\S*: \(([\w.]+)\)", output, flags=re.MULTILINE)


def test_production_settings_pass_check_deploy_without_warnings():
    result = _manage("check", "--deploy", env=_production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every warning counts, drf-spectacular's schema remarks included: an API view the
    # schema cannot describe is a gap in /api/schema/ (and in what the fuzzer tests).
    assert _issue_ids(output) == [], output
    assert "no issues" in result.stdout, output


def test_production_security_checks_have_no_warnings_at_all():
    result = _manage(
        "check", "--deploy", "--tag", "security", "--fail-level", "WARNING", env=_production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PII_ENCRYPTION_KEY", "PII_HMAC_KEY"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = _production_env()
    env.pop(missing)
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_settings_turn_on_hsts_and_secure_cookies():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_CONTENT_TYPE_NOSNIFF, s.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=BASE,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["31536000", "True", "True", "True", "True", "False"]


def test_demo_accounts_are_never_created_in_production(db):
    from accounts.models import User
    from fixtures.accounts import create_demo_accounts

    User.objects.filter(username__in=["admin", "zhihui"]).update(
        username=Concat(F("username"), Value("-old"))
    )
    with override_settings(PRODUCTION=True):
        assert create_demo_accounts() == []
    assert not User.objects.filter(username__in=["admin", "zhihui"]).exists()
    # Without the production setting they come back, with the demo district.
    assert "zhihui" in create_demo_accounts()


def test_demo_accounts_need_the_demo_district(db):
    from fixtures.accounts import create_demo_accounts
    from layers.models import District

    District.objects.filter(code="530112").update(code="530100")
    with pytest.raises(District.DoesNotExist):
        create_demo_accounts()


def test_security_headers_on_every_page(client, db):
    response = client.get("/accounts/login/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # No outside origin anywhere in the policy (the basemap is off by default).
    assert not re.search(r"https?://", csp)
    assert "Permissions-Policy" in response


def test_hsts_header_when_secure_in_production(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_every_post_form_in_the_templates_carries_a_csrf_token():
    missing = []
    for path in BASE.glob("**/templates/**/*.html"):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<form\b[^>]*>", text, flags=re.IGNORECASE):
            if not re.search(r"method=[\"']?post", match.group(0), flags=re.IGNORECASE):
                continue
            end = text.find("</form>", match.end())
            if "{% csrf_token %}" not in text[match.end() : end if end > 0 else None]:
                missing.append(
                    f"{path.relative_to(BASE)}:{text[: match.start()].count(chr(10)) + 1}"
                )
    assert missing == []


# Views exempt from CSRF, with why that is safe. Anything else exempt fails the test.
CSRF_EXEMPT = {
    # Open311 clients are other systems: writes need an api_key (a scoped token), never
    # the session cookie, so a forged cross-site POST carries no authority.
    "interop/open311.py": "test_open311_writes_refuse_a_session_without_api_key",
}


def test_no_view_is_exempt_from_csrf():
    exempt = []
    for path in BASE.glob("*/**/*.py"):
        if {".venv", "node_modules", "tests"} & set(path.parts):
            continue
        if "csrf_exempt" in path.read_text(encoding="utf-8"):
            exempt.append(str(path.relative_to(BASE)))
    assert sorted(set(exempt) - set(CSRF_EXEMPT)) == []


def test_open311_writes_refuse_a_session_without_api_key(db, demo_password):
    from django.test import Client

    from accounts.models import User

    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="shouli"))
    response = client.post(
        "/open311/v2/requests.json", {"service_code": "wage", "lat": "25.0", "long": "102.7"}
    )
    assert response.status_code == 403


def test_the_login_form_needs_a_csrf_token(db, demo_password):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "zhihui", "password": demo_password})
    assert response.status_code == 403
