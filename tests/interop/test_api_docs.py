"""Who reads /api/schema/ and /api/docs/: a setting, closed by default in production.

Issue 14, finding 11: both answered anonymous requests. API_DOCS_PUBLIC is on locally
(the demo and the fuzzer read the schema) and off by default with GRIDMAP_ENV=production,
where a signed-in user or any valid API token reads them.
"""

import subprocess
import sys

import pytest
from django.test import Client

from accounts import services
from tests.accounts.test_settings import BASE, _production_env


@pytest.fixture
def closed(settings):
    settings.API_DOCS_PUBLIC = False


def test_closed_docs_refuse_anonymous_visitors_and_admit_users_and_tokens(closed, db):
    from accounts.models import User

    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    response = anonymous.get("/api/docs/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    signed_in = Client()
    signed_in.force_login(User.objects.get(username="fenxi"))
    assert signed_in.get("/api/schema/").status_code == 200
    assert signed_in.get("/api/docs/").status_code == 200

    # Any valid token, whatever its scopes: the hotline's intake-only token included.
    _token, raw = services.issue_api_token(
        name="hotline", user=User.objects.get(username="shouli"), scopes=["cases:create"]
    )
    response = Client().get("/api/schema/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and b"openapi" in response.content
    assert Client().get("/api/schema/", HTTP_AUTHORIZATION="Bearer gm_nope").status_code in (
        401,
        403,
    )


def _setting(env):
    code = "import django; django.setup(); from django.conf import settings as s;"
    result = subprocess.run(
        [sys.executable, "-c", f"{code} print(s.API_DOCS_PUBLIC)"],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


def test_the_docs_are_closed_by_default_in_production_and_open_locally():
    import os

    assert _setting(_production_env()) == "False"
    assert _setting(_production_env(API_DOCS_PUBLIC="1")) == "True"
    local = {k: v for k, v in os.environ.items() if k not in ("GRIDMAP_ENV", "API_DOCS_PUBLIC")}
    assert _setting(local) == "True"
