"""Browser tests: Debian's Chromium driven by Playwright against a server of the test DB.

pytest-django's live_server flushes the database after each test (it is transactional),
which would wipe the demo district every other test relies on. Instead a threaded WSGI
server runs in this process on a free port, on the test database whose demo data was
committed at session start; the sessions and cases the browser tests create are deleted
at the end. Nothing is downloaded: Chromium is /usr/bin/chromium, and every request to
another host is aborted and recorded.
"""

import os
import socket
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def close_request(self, request):
        # Each request runs in a thread of its own, with database connections of its own
        # (kept open by CONN_MAX_AGE): close them, as Django's runserver does.
        from django.db import connections

        connections.close_all()
        super().close_request(request)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_server(django_db_setup, django_db_blocker):
    """Serve the app on 127.0.0.1:<free port>; yield its base URL."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler

    with django_db_blocker.unblock():
        from cases.models import Case

        first_new = (Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        port = _free_port()
        server = make_server(
            "127.0.0.1",
            port,
            StaticFilesHandler(WSGIHandler()),
            server_class=_Server,
            handler_class=_QuietHandler,
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.shutdown()
            server.server_close()
            _cleanup(first_new)


def _cleanup(first_new):
    """Delete what the browser tests created: their cases and log-in sessions."""
    from django.contrib.sessions.models import Session
    from django.db import connection

    from cases.models import Case

    for case in Case.objects.filter(pk__gte=first_new):
        try:
            case.delete()
        except Exception:  # noqa: BLE001 (protected rows: leave them, report)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM cases_case WHERE id = %s", [case.pk])
    Session.objects.filter(session_key__in=_SESSIONS).delete()


_SESSIONS = []


def session_cookie(username, base_url):
    """Return a Playwright cookie of a committed session logged in as `username`."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    _SESSIONS.append(session.session_key)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": session.session_key,
        "url": base_url,
    }


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the
    # fixtures make around it are ordinary blocking calls, which Django would refuse. Only
    # while this module runs: a process-wide setting would leak into other tests' children.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Watch:
    """Console errors, page errors and every request to another host, for one page."""

    def __init__(self, page, base_url):
        self.errors = []
        self.outside = []
        self.requests = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

        def route(route):
            url = route.request.url
            if url.startswith(base_url) or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                self.outside.append(url)
                route.abort()

        page.route("**/*", route)


@pytest.fixture
def open_page(chromium, browser_server, django_db_blocker):
    """Return a function (username, path, viewport) -> (page, Watch), logged in."""
    contexts = []
    ARTIFACTS.mkdir(exist_ok=True)

    def _open(username, path, viewport=(1920, 1080), **kwargs):
        context = chromium.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, **kwargs
        )
        contexts.append(context)
        with django_db_blocker.unblock():
            context.add_cookies([session_cookie(username, browser_server)])
        page = context.new_page()
        watch = Watch(page, browser_server)
        page.goto(browser_server + path, wait_until="load")
        return page, watch

    yield _open
    for context in contexts:
        context.close()
