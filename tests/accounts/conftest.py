import pytest


@pytest.fixture
def places(db):
    """Records in four places A-D (see tests/accounts/places.py)."""
    from tests.accounts.places import build_places

    return build_places()


@pytest.fixture
def user(db):
    """Return a function that fetches a demo account by user name."""
    from accounts.models import User

    return lambda username: User.objects.get(username=username)
