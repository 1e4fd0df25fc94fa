"""Fixtures of the interop tests: logged-in clients, API tokens, and a live server."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture
def api(client, db):
    """Return a function that logs the test client in as a demo account and returns it."""
    from accounts.models import User

    def _api(username="zhihui"):
        client.force_login(User.objects.get(username=username))
        return client

    return _api


@pytest.fixture
def token(db):
    """Return a function that issues an API token for a demo account; returns the key."""
    from accounts.models import User
    from accounts.services import issue_api_token

    def _token(username="zhihui", scopes=("layers:read", "cases:read")):
        user = User.objects.get(username=username)
        _, raw = issue_api_token(name=f"test {username}", user=user, scopes=list(scopes))
        return raw

    return _token


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url():
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgis://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="module")
def live_token(django_db_setup, django_db_blocker):
    """Return a function that commits an API token for a demo account; returns the key.

    A live server is another process and sees only committed rows, so these tokens live
    outside the test's transaction; they are deleted when the module's tests are done.
    """
    from accounts.models import ApiToken, User
    from accounts.services import issue_api_token

    issued = []

    def _live_token(username="zhihui", scopes=("layers:read", "cases:read")):
        with django_db_blocker.unblock():
            token, key = issue_api_token(
                name=f"live server {username}",
                user=User.objects.get(username=username),
                scopes=list(scopes),
            )
        issued.append(token.pk)
        return key

    yield _live_token
    with django_db_blocker.unblock():
        ApiToken.objects.filter(pk__in=issued).delete()


@pytest.fixture(scope="module")
def live_ogc(live_token, tmp_path_factory):
    """Serve the app with gunicorn on a free loopback port against the test database.

    Yields the base URL and the key of a token of zhihui (the whole district). The demo
    data was committed at session start; more tokens come from live_token.
    """
    key = live_token("zhihui")
    port = _free_port()
    log = tmp_path_factory.mktemp("ogc") / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "gridmap.settings",
    }
    base_dir = Path(settings.BASE_DIR)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(gunicorn), "gridmap.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "4"],
            cwd=base_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base, key
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
