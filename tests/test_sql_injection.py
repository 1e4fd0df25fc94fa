"""SQL-injection strings in every filter parameter answer 400 or an ordinary (empty) result.

The routes are those of the authorisation matrix (tests/test_authorisation_matrix.py)
that answer GET. The parameters are every name the code reads from a query string
(``request.GET.get("…")``, ``query_params.get("…")``), every field of the forms that
parse query strings, and the usual filter names; each route gets those that its own
package's code mentions, one at a time, and then all at once.
"""

import re
from functools import cache
from pathlib import Path

import pytest
from django import forms as django_forms
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests import test_authorisation_matrix as matrix

INJECTIONS = [
    "1' OR '1'='1",
    "1; DROP TABLE layers_person; --",
    "' UNION SELECT id_number_cipher, NULL FROM layers_person --",
    "1)) OR pg_sleep(5) IS NULL --",
    "%' AND 1=CAST((SELECT version()) AS int) --",
]
COMMON = {
    "q",
    "search",
    "status",
    "category",
    "source",
    "street",
    "community",
    "grid",
    "kind",
    "level",
    "urgency",
    "overdue",
    "ordering",
    "page",
    "limit",
    "offset",
    "bbox",
    "datetime",
    "since",
    "until",
    "from",
    "to",
    "period",
    "layer",
    "f",
    "properties",
    "sortby",
    "id",
    "code",
    "number",
}
APPS = ["accounts", "cases", "gridmap", "layers", "interop"]
BASE = Path(settings.BASE_DIR)
_READ_RE = re.compile(r"(?:GET|query_params|params)\.(?:get|getlist)\(\s*[\"'](\w+)")


def _form_fields():
    """Return the field names of every Form in the apps' forms and params modules."""
    import importlib

    names = set()
    for app in APPS:
        for path in list((BASE / app).glob("**/forms.py")) + list(
            (BASE / app).glob("**/params.py")
        ):
            module_name = ".".join(path.relative_to(BASE).with_suffix("").parts)
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, django_forms.BaseForm):
                    names.update(value.base_fields)
    return names


@cache
def all_parameters():
    names = set(COMMON) | _form_fields()
    for app in APPS:
        for path in (BASE / app).glob("**/*.py"):
            names.update(_READ_RE.findall(path.read_text(encoding="utf-8")))
    return names


@cache
def _package_text(module_name):
    package = BASE.joinpath(*module_name.split(".")[:-1])
    return "\n".join(p.read_text(encoding="utf-8") for p in package.glob("*.py"))


def parameters_for(name):
    """Return the parameters a route's package mentions (plus the common ones it reads)."""
    callback = matrix.ROUTES[name].callback
    module = getattr(callback, "__module__", "")
    if module.split(".")[0] not in APPS:
        return sorted(COMMON)
    text = _package_text(module)
    return sorted(p for p in all_parameters() if f'"{p}"' in text or f"'{p}'" in text)


GET_ROUTES = sorted(
    name
    for name in matrix.MATRIX
    if matrix.rule_for(name).method == "get" and not matrix.rule_for(name).public
)


@pytest.fixture
def places(db, settings, tmp_path):
    from tests.accounts.places import build_places

    settings.MEDIA_ROOT = tmp_path / "media"
    return build_places()


def _ok(response):
    # 400 (refused with a message) or any ordinary answer; never a server error.
    return response.status_code < 500


@pytest.mark.parametrize("name", GET_ROUTES)
def test_injection_strings_in_every_filter_parameter_never_cause_a_server_error(name, places):
    from accounts.models import User

    rule = matrix.rule_for(name)
    obj = places["A"].objects[rule.obj] if rule.obj else None
    extra = rule.setup(places) if rule.setup else None
    url = matrix._url(name, rule, obj, extra)
    client = Client()
    client.force_login(User.objects.get(username="zhihui"))
    failures = []
    params = parameters_for(name)
    for param in params:
        payload = INJECTIONS[len(param) % len(INJECTIONS)]
        response = client.get(url, {**rule.query, param: payload})
        if not _ok(response):
            failures.append(f"{param}={payload!r}: {response.status_code}")
    for payload in INJECTIONS:
        response = client.get(url, {**rule.query, **{p: payload for p in params}})
        if not _ok(response):
            failures.append(f"all parameters = {payload!r}: {response.status_code}")
    assert failures == [], f"{name} ({url}): " + "; ".join(failures)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_a_path_id_is_not_found(payload, db):
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username="zhihui"))
    for path in ["/cases/{}/", "/api/v1/persons/{}/", "/accounts/reveal/person/{}/"]:
        response = client.get(path.format(payload))
        assert response.status_code == 404, path


def test_the_persons_table_survives(db):
    from layers.models import Person

    assert Person.objects.exists()


def test_the_audit_log_filters_refuse_injection(db):
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username="zhihui"))
    url = reverse("accounts:audit_log")
    assert client.get(url, {"since": INJECTIONS[0]}).status_code == 400
    response = client.get(url, {"username": INJECTIONS[0], "q": INJECTIONS[2]})
    assert response.status_code == 200
    assert len(response.context["page"]) == 0
