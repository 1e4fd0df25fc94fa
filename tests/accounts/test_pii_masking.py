"""Personal data is masked on every page, API and export, whoever asks."""

import pytest
from django.test import Client

from tests import test_authorisation_matrix as matrix

GET_ROUTES = sorted(name for name in matrix.MATRIX if matrix.rule_for(name).method == "get")


@pytest.fixture
def clear_values(places, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    from gridmap import pii

    person = places["A"].objects["layers.person"]
    party = places["A"].objects["cases.party"]
    house = places["A"].objects["layers.rentalhouse"]
    return places, [
        person.clear["id_number"],
        person.clear["phone"],
        person.clear["name"],
        party.name,
        pii.decrypt(bytes(party.phone_cipher)),
        house.landlord_name,
        pii.decrypt(bytes(house.landlord_phone_cipher)),
    ]


@pytest.mark.parametrize("name", GET_ROUTES)
def test_no_page_or_api_shows_personal_data_in_clear(name, clear_values):
    from accounts.models import User

    places, secrets = clear_values
    rule = matrix.rule_for(name)
    obj = places["A"].objects[rule.obj] if rule.obj else None
    extra = rule.setup(places) if rule.setup else None
    url = matrix._url(name, rule, obj, extra)
    leaks = []
    for username in ["admin", "zhihui", "wangge"]:
        client = Client()
        client.force_login(User.objects.get(username=username))
        response = client.get(url, rule.query)
        if response.status_code != 200:
            continue
        body = matrix._body(response).decode("utf-8", errors="replace")
        leaks += [f"{username}: {secret}" for secret in secrets if secret and secret in body]
    assert leaks == [], f"{name} ({url}) shows personal data in clear"
