"""Test set-up: a throwaway PostGIS database with the Xishan demo district loaded once.

Tests run inside transactions (the `db` fixture), so the demo data stays as loaded for
every test. Use small factories (tests/factories.py) for anything a test needs beyond it.
"""

import pytest
from django.core.management import call_command


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("load_demo", verbosity=0)


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
