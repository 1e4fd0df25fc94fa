import pytest


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
