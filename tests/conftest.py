"""Test set-up: a throwaway PostGIS database with the Xishan demo district loaded once.

Tests run inside transactions (the `db` fixture), so the demo data stays as loaded for
every test. Use small factories (tests/factories.py) for anything a test needs beyond it.
"""

import pytest
from django.core.management import call_command


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """Create the test database (always: see below), migrate it and load the demo once.

    pytest-django's own fixture sets up only the databases that the collected tests ask
    for with `db` or the django_db mark. The browser tests reach the database through
    their server thread and ask for neither: run on their own, they would have worked on
    the development database. Here the default database is always the test database.
    """
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from gridmap import dbroles

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        # As in make run: the owner creates, migrates and fills the database and grants
        # the app role its rights; the tests then run as the app role (no superuser,
        # owns nothing), so anything the app does that it may not do in production fails.
        with dbroles.as_owner():
            config = setup_databases(
                verbosity=request.config.option.verbose,
                interactive=False,
                keepdb=keepdb,
                aliases={"default"},
                # No test rolls back by re-loading a serialised copy: don't dump the demo
                # district to JSON (~10 s and ~100 MB) at every session start.
                serialized_aliases=set(),
            )
            assert connection.settings_dict["NAME"].startswith("test_"), "not a test database"
            call_command("load_demo", verbosity=0)
            call_command("dbgrants", verbosity=0)
        dbroles.use_app_role()
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock(), dbroles.as_owner():
            try:
                teardown_databases(config, verbosity=request.config.option.verbose)
            except Exception as exc:  # noqa: BLE001  (as pytest-django: warn, don't fail)
                # A server thread of the browser or interop tests may still hold a
                # connection; the next run recreates the database anyway.
                request.node.warn(pytest.PytestWarning(f"test database not dropped: {exc!r}"))


@pytest.fixture
def demo_password():
    from fixtures.accounts import DEMO_PASSWORD

    return DEMO_PASSWORD


@pytest.fixture
def login(client, db):
    """Return a function that logs the test client in as a demo account."""
    from accounts.models import User

    def _login(username="zhihui"):
        user = User.objects.get(username=username)
        client.force_login(user)
        return user

    return _login


@pytest.fixture
def pdf_text(tmp_path):
    """Return a function that gives the text of a PDF's bytes (Debian's pdftotext)."""
    import subprocess

    def text(content):
        path = tmp_path / "document.pdf"
        path.write_bytes(content)
        out = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
        )
        return out.stdout.decode()

    return text


@pytest.fixture
def owner_cursor(db):
    """Return a cursor on the test database as the schema owner, in a transaction rolled back
    at the end (a connection of its own: the test's transaction is the app role's)."""
    import psycopg2
    from django.conf import settings
    from django.db import connection

    owner = settings.DATABASE_OWNER
    conn = psycopg2.connect(
        host=owner["HOST"] or "127.0.0.1",
        port=owner["PORT"] or 5432,
        user=owner["USER"],
        password=owner["PASSWORD"] or None,
        dbname=connection.settings_dict["NAME"],
    )
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.rollback()
        conn.close()
