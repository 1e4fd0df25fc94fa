"""XSS payloads in every free-text field render inert on pages and in map popups.

Every free-text field (CharField/TextField without choices) of the records of place A
(tests/accounts/places.py), of its grid, and of its case's trail gets a payload; then
every page of the authorisation matrix that answers GET is opened by roles that see A:

- HTML answers must not contain the payload as markup (Django escapes it);
- no executable script of the page carries the payload, in any encoding: folium's
  tooltips and popups put what their scripts hold into innerHTML or template literals.
  Map data with user text is a ``<script type="application/json">`` element instead
  (gridmap.maps.DataLayer, Django's json_script), read with textContent;
- our own map scripts build popups and tooltips from JSON with textContent, never
  innerHTML.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import models
from django.test import Client
from django.utils import timezone

from tests import test_authorisation_matrix as matrix

IMG = "<img src=x onerror=alert(9)>"
SCRIPT = "</script><script>alert(9)</script>"
RAW_MARKUP = [IMG, "<script>alert(9)"]
# The payload as it reads inside a script: raw, or JSON-escaped by folium's tojson or
# gridmap.maps.safe_json (\u003c) or Django's json_script (\u003C).
IN_SCRIPT = ["<img src=x onerror", "\\u003cimg src=x onerror", "\\u003Cimg src=x onerror"]
EXECUTABLE_SCRIPT = re.compile(r"<script(?![^>]*application/json)[^>]*>(.*?)</script>", re.S)
SKIP_FIELDS = {"code", "number", "idempotency_key", "credit_code", "household_no", "department"}


def payload_for(field):
    size = field.max_length or 10_000
    if size >= len(IMG) + len(SCRIPT):
        return IMG + SCRIPT
    if size >= len(IMG):
        return IMG
    return None


def free_text_fields(model):
    for field in model._meta.concrete_fields:
        if not isinstance(field, (models.CharField, models.TextField)):
            continue
        if (
            field.choices
            or field.name in SKIP_FIELDS
            or field.name.endswith(("_digest", "_masked"))
        ):
            continue
        if payload_for(field):
            yield field


def poison(obj):
    """Put the payload into every free-text field of obj (bypassing save())."""
    values = {f.name: payload_for(f) for f in free_text_fields(type(obj))}
    if values:
        type(obj).objects.filter(pk=obj.pk).update(**values)
    return values


@pytest.fixture
def poisoned(db, settings, tmp_path):
    from cases.models import Callback, CaseEvent
    from tests.accounts.places import build_places

    settings.MEDIA_ROOT = tmp_path / "media"
    places = build_places()
    fields = {}
    for label, obj in places["A"].objects.items():
        if label in ("layers.community", "layers.street"):
            continue  # shared by the demo district's other records; grid A is enough
        fields[label] = sorted(poison(obj))
    case = places["A"].objects["cases.case"]
    now = timezone.now()
    CaseEvent.objects.create(
        case=case, action="note", to_status=case.status, note=IMG + SCRIPT, at=now
    )
    Callback.objects.create(case=case, rating="satisfied", note=IMG + SCRIPT, at=now)
    return places, fields


def test_every_free_text_field_of_the_records_is_poisoned(poisoned):
    _places, fields = poisoned
    assert "description" in fields["cases.case"] and "title" in fields["cases.case"]
    assert {"name", "address", "origin"} <= set(fields["layers.person"])
    assert "name" in fields["layers.grid"]


def _check(response, who, name, problems):
    if response.status_code >= 500:
        problems.append(f"{who} {name}: {response.status_code}")
        return
    if response.status_code != 200:
        return
    content_type = response.get("Content-Type", "")
    body = matrix._body(response).decode("utf-8", errors="replace")
    if "html" in content_type:
        for markup in RAW_MARKUP:
            if markup in body:
                problems.append(f"{who} {name}: raw {markup!r} in the page")
        for script in EXECUTABLE_SCRIPT.findall(body):
            if any(encoded in script for encoded in IN_SCRIPT):
                problems.append(f"{who} {name}: payload in an executable script")
                break


PAGES = sorted(name for name in matrix.MATRIX if matrix.rule_for(name).method == "get")


@pytest.mark.parametrize("name", PAGES)
def test_payloads_render_inert(name, poisoned):
    from accounts.models import User

    places, _fields = poisoned
    rule = matrix.rule_for(name)
    obj = places["A"].objects[rule.obj] if rule.obj else None
    extra = rule.setup(places) if rule.setup else None
    url = matrix._url(name, rule, obj, extra)
    problems = []
    for username in ["admin", "zhihui", "wangge"]:
        client = Client()
        client.force_login(User.objects.get(username=username))
        _check(client.get(url, rule.query), username, name, problems)
    assert problems == []


def test_reveal_page_shows_revealed_values_escaped(poisoned):
    from accounts.models import User

    places, _fields = poisoned
    person = places["A"].objects["layers.person"]
    client = Client()
    client.force_login(User.objects.get(username="zhihui"))
    response = client.post(f"/accounts/reveal/person/{person.pk}/", {"reason": "核实 check"})
    assert response.status_code == 200
    assert IMG not in response.content.decode()
    assert "&lt;img src=x onerror=alert(9)&gt;" in response.content.decode()


def test_audit_log_shows_reasons_escaped(poisoned):
    from accounts.models import User

    places, _fields = poisoned
    person = places["A"].objects["layers.person"]
    client = Client()
    client.force_login(User.objects.get(username="zhihui"))
    client.post(f"/accounts/reveal/person/{person.pk}/", {"reason": IMG + SCRIPT})
    body = client.get("/accounts/audit/").content.decode()
    assert IMG not in body and "<script>alert(9)" not in body


DANGEROUS_JS = re.compile(
    r"\.innerHTML\s*[+]?=|\.outerHTML\s*=|insertAdjacentHTML|document\.write\s*\("
    r"|\.html\(\s*[^)]"
)


def test_our_map_scripts_never_write_server_data_as_html():
    offenders = []
    for path in Path(settings.BASE_DIR, "static", "gridmap").glob("*.js"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DANGEROUS_JS.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
            # Popups and tooltips get DOM nodes or escaped text, not concatenated strings.
            if re.search(r"(bindPopup|bindTooltip|setContent)\([^)]*\+", line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
