"""The authorisation matrix: every route × every role × a record inside and outside its area.

The routes come from the URL configuration. Every named route must be classified in
RULES below (by exact name, or by a prefix ending in ``*``), or
``test_every_route_is_classified`` fails and lists it: a new endpoint cannot slip in
unchecked. For each classified route, each demo role (and an anonymous visitor) calls it:

- anonymous: redirected to the log-in page, or 401/403 (public routes excepted);
- a role not in ``allowed``: 403 or 404 (or a redirect to the log-in page);
- a role in ``allowed``: not 401/403/404, never a 5xx; for a route about one record
  (``obj``), the record inside the role's area is allowed and the one outside is refused
  (the system administrator sees both);
- ``area_list`` routes (lists, searches, maps, exports): the answer never contains the
  marker of a record outside the role's area;
- ``export`` routes: a successful download leaves an audit entry.

Below the matrix, the rules of issue 14, each with a test of its own: a handler sees a
case only through an active assignment; who may register which sources, how many
person-visits and whether he may dispatch at once (page, API, Open311); an
Idempotency-Key replay out of the caller's area; the separation of duties.

The places A-D and the inside/outside pairs of each role: tests/accounts/places.py.
"""

from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import AnonymousUser  # noqa: F401 (documentation)
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.accounts.places import INSIDE_OUTSIDE, ROLES, marker

EVERYONE = frozenset(ROLES)
NOT_DEPARTMENT = EVERYONE - {"renshe"}
INTAKE = frozenset({"admin", "zhihui", "shouli", "majie", "chuanfang", "wangge"})
REVEAL = frozenset({"zhihui", "majie", "chuanfang", "wangge"})
# Who sees a street / community record at all (area_q: a community centre has no street).
STREET_READERS = frozenset({"admin", "zhihui", "shouli", "fenxi", "majie"})
COMMUNITY_READERS = STREET_READERS | {"chuanfang"}


@dataclass(frozen=True)
class Rule:
    """How a route is expected to answer."""

    allowed: frozenset = EVERYONE
    public: bool = False
    obj: str = ""  # model label of the record named by the route's id kwarg
    pk_kwarg: str = ""  # name of that kwarg (default: the route's only int-like kwarg)
    kwargs: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    method: str = "get"
    data: dict = field(default_factory=dict)
    attr: str = "pk"  # the record's attribute that goes into the URL (e.g. a case number)
    setup: object = None  # places -> extra kwargs, for records that are not area-scoped
    inside: str = "allow"  # "allow": inside must be allowed; "any": not checked (actions)
    area_list: bool = False
    export: bool = False
    skip: str = ""  # why the generic check does not apply (and where it is tested)


def R(**kwargs):
    return Rule(**{k: frozenset(v) if k == "allowed" else v for k, v in kwargs.items()})


CASE_ACTION = R(obj="cases.case", method="post", inside="any")

RULES = {
    # gridmap
    "home": R(area_list=True),
    "healthz": R(public=True),
    "login": R(public=True),
    "logout": R(method="post", skip="ends the session; CSRF: tests/accounts/test_settings.py"),
    "set_language": R(public=True, method="post", data={"language": "en"}),
    "admin:*": R(skip="Django admin: test_admin_* below and tests/accounts/test_scoping.py"),
    # accounts
    "accounts:reveal": R(
        allowed=REVEAL,
        obj="layers.person",
        kwargs={"kind": "person"},
        method="post",
        data={"reason": "核实身份 matrix"},
    ),
    "accounts:audit_log": R(allowed={"admin", "zhihui"}),
    # cases: pages
    "cases:list": R(area_list=True),
    "cases:new": R(allowed=INTAKE),
    "cases:places": R(area_list=True),
    "cases:notifications": R(),
    "cases:mobile": R(area_list=True),
    "cases:mobile-case": R(obj="cases.case"),
    "cases:detail": R(obj="cases.case"),
    "cases:action": R(obj="cases.case", kwargs={"action": "accept"}, method="post", inside="any"),
    "cases:note": CASE_ACTION,
    "cases:difficult": CASE_ACTION,
    "cases:consult": CASE_ACTION,
    "cases:opinion": R(obj="cases.consultation", method="post", inside="any"),
    "cases:attachment": R(obj="cases.attachment"),
    "cases:letter": R(obj="cases.reminder", inside="any"),  # 503 without a CJK font
    # cases: API
    "cases:api-categories": R(),
    "cases:api-cases": R(area_list=True),
    "cases:api-duplicates": R(area_list=True),
    "cases:api-case": R(obj="cases.case"),
    "cases:api-case-action": R(
        obj="cases.case", kwargs={"action": "accept"}, method="post", inside="any"
    ),
    # KPIs and hot spots (aggregates of the user's area)
    "kpi-dashboard": R(area_list=True),
    "kpi-export": R(area_list=True, export=True),
    "api-kpis": R(area_list=True),
    "hotspots:page": R(area_list=True),
    "hotspots:data": R(area_list=True),
    "hotspots:xlsx": R(area_list=True, export=True),
    "hotspots:pdf": R(area_list=True, export=True),
    # maps
    "map-wall": R(area_list=True),
    "map-territory": R(area_list=True),
    "map-tile": R(skip="content checked per role: test_vector_tiles_outside_the_area_are_empty"),
    "map-stats": R(area_list=True),
    "map-live": R(area_list=True),
    "map-grid": R(allowed=NOT_DEPARTMENT, obj="layers.grid"),
    "map-case": R(obj="cases.case"),
    "map-dispatch": R(obj="cases.case", method="post", inside="any"),
    "map-export": R(kwargs={"view": "wall"}, area_list=True, export=True),
    # interoperability: REST layers, OpenAPI, OGC API – Features
    # The API description holds no data; public locally, closed to anonymous visitors in
    # production by API_DOCS_PUBLIC (tests/interop/test_api_docs.py).
    "interop:schema": R(public=True),
    "interop:docs": R(public=True),
    "interop:api-street-list": R(area_list=True),
    "interop:api-street-detail": R(allowed=STREET_READERS, obj="layers.street"),
    "interop:api-community-list": R(area_list=True),
    "interop:api-community-detail": R(allowed=COMMUNITY_READERS, obj="layers.community"),
    "interop:api-grid-list": R(area_list=True),
    "interop:api-grid-detail": R(allowed=NOT_DEPARTMENT, obj="layers.grid"),
    "interop:api-rental-house-list": R(area_list=True),
    "interop:api-rental-house-detail": R(allowed=NOT_DEPARTMENT, obj="layers.rentalhouse"),
    "interop:api-person-list": R(area_list=True),
    "interop:api-person-detail": R(allowed=NOT_DEPARTMENT, obj="layers.person"),
    # Open311 GeoReport v2: discovery and service list are public by the spec; requests
    # need an api_key (scoped token) or, for reads, a session; POST needs an api_key.
    "interop:open311-discovery": R(public=True, kwargs={"fmt": "json"}),
    "interop:open311-services": R(public=True, kwargs={"fmt": "json"}),
    "interop:open311-service": R(public=True, setup=lambda places: _open311_service()),
    "interop:open311-requests": R(kwargs={"fmt": "json"}, area_list=True),
    "interop:open311-request": R(
        obj="cases.case", attr="number", pk_kwarg="request_id", kwargs={"fmt": "json"}
    ),
    # Any other path under /ogcapi/: an OGC 404 for everyone.
    "interop:ogc-not-found": R(allowed=set(), kwargs={"rest": "no/such/thing"}),
    "interop:ogc-landing": R(),
    "interop:ogc-conformance": R(),
    "interop:ogc-api": R(),
    "interop:ogc-collections": R(),
    "interop:ogc-collection": R(kwargs={"collection_id": "rentals"}),
    "interop:ogc-items": R(kwargs={"collection_id": "rentals"}, area_list=True),
    "interop:ogc-item": R(
        allowed=NOT_DEPARTMENT,
        obj="layers.rentalhouse",
        pk_kwarg="feature_id",
        kwargs={"collection_id": "rentals"},
    ),
    # layers: import (system administrator), unassigned points (district), export, locate
    "layers:import": R(allowed={"admin"}),
    "layers:import_job": R(allowed={"admin"}, setup=lambda places: _import_job()),
    "layers:import_job_status": R(allowed={"admin"}, setup=lambda places: _import_job()),
    "layers:import_job_errors": R(allowed={"admin"}, setup=lambda places: _import_job()),
    "layers:unassigned": R(allowed={"admin", "zhihui"}, query={"layer": "rentals"}),
    "layers:api_unassigned": R(allowed={"admin", "zhihui"}, query={"layer": "rentals"}),
    "layers:relocate": R(
        allowed={"admin", "zhihui"},
        method="post",
        setup=lambda places: _unassigned_rental(),
        data={"lon": "102.70", "lat": "25.00"},
    ),
    "layers:export": R(query={"layer": "persons", "format": "csv"}, area_list=True, export=True),
    "layers:locate": R(skip="worker details per role: test_locate_shows_workers_only_in_area"),
}


def _import_job():
    from layers.models import ImportJob

    job = ImportJob.objects.create(kind=ImportJob.Kind.values[0], filename="test.csv")
    return {"pk": job.pk}


def _unassigned_rental():
    from django.contrib.gis.geos import Point

    from layers.models import RentalHouse

    house = RentalHouse.objects.create(
        code="TEST-UNASSIGNED", address="ZZMARK-X", location=Point(100.0, 20.0, srid=4326)
    )
    return {"layer": "rentals", "pk": house.pk}


def _open311_service():
    from cases.models import Category

    return {"fmt": "json", "service_code": Category.objects.filter(active=True).first().code}


def _walk(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            prefix = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or f"<unnamed {pattern.pattern}>"
            yield f"{namespace}{name}", pattern


def named_routes():
    """Return {route name: URLPattern} of every route; unnamed ones as <unnamed path>."""
    return dict(_walk(get_resolver().url_patterns))


def rule_for(name):
    if name in RULES:
        return RULES[name]
    for key, rule in RULES.items():
        if key.endswith("*") and name.startswith(key[:-1]):
            return rule
    return None


ROUTES = named_routes()


def test_every_route_is_classified():
    unclassified = sorted(name for name in ROUTES if rule_for(name) is None)
    assert unclassified == [], (
        "routes without an authorisation rule (add them to RULES in "
        f"tests/test_authorisation_matrix.py): {unclassified}"
    )


def test_no_rule_names_a_route_that_does_not_exist():
    stale = sorted(key for key in RULES if not key.endswith("*") and key not in ROUTES)
    assert stale == []


# --- the matrix ---------------------------------------------------------------------------


def _pk_kwarg(name, rule):
    if rule.pk_kwarg:
        return rule.pk_kwarg
    pattern = ROUTES[name].pattern
    converters = getattr(pattern, "converters", {})
    names = [k for k in converters if k not in rule.kwargs]
    if not names:
        names = [k for k in pattern.regex.groupindex if k not in rule.kwargs]
    assert len(names) == 1, f"{name}: say which kwarg names the record (pk_kwarg)"
    return names[0]


def _url(name, rule, obj=None, extra=None):
    kwargs = {**rule.kwargs, **(extra or {})}
    if obj is not None:
        kwargs[_pk_kwarg(name, rule)] = getattr(obj, rule.attr)
    return reverse(name, kwargs=kwargs or None)


def _call(client, url, rule):
    if rule.method == "post":
        return client.post(url, rule.data)
    return client.get(url, rule.query)


def _is_login_redirect(response):
    return response.status_code == 302 and "login" in response.get("Location", "")


def _denied(response):
    return response.status_code in (401, 403, 404) or _is_login_redirect(response)


def _allowed(response):
    return response.status_code < 500 and response.status_code not in (401, 403, 404)


def _body(response):
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


MATRIX = sorted(name for name in ROUTES if rule_for(name) and not rule_for(name).skip)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def places(db, media):
    from tests.accounts.places import build_places

    return build_places()


@pytest.mark.parametrize("name", MATRIX)
def test_authorisation_matrix(name, places, media):
    from accounts.models import AuditEntry, User

    rule = rule_for(name)
    problems = []
    objects = {p: place.objects.get(rule.obj) for p, place in places.items()} if rule.obj else {}
    extra = rule.setup(places) if rule.setup else None

    # Anonymous visitors.
    anonymous = Client()
    url = _url(name, rule, objects.get("A"), extra)
    response = _call(anonymous, url, rule)
    if rule.public:
        if response.status_code >= 400:
            problems.append(f"anonymous: {response.status_code} on a public route")
    elif not _denied(response):
        problems.append(f"anonymous: {response.status_code}, expected a refusal")

    for username in ROLES:
        client = Client()
        client.force_login(User.objects.get(username=username))
        inside, outside = INSIDE_OUTSIDE[username]
        allowed = username in rule.allowed or rule.public
        if rule.obj:
            checks = [(inside, allowed and rule.inside == "allow", allowed)]
            admin = username == "admin"
            checks.append((outside, admin and allowed and rule.inside == "allow", admin))
            for place, must_allow, may_allow in checks:
                response = _call(client, _url(name, rule, objects[place], extra), rule)
                status = response.status_code
                if status >= 500:
                    problems.append(f"{username} {place}: {status}")
                elif must_allow and not _allowed(response):
                    problems.append(f"{username} {place} (inside): {status}, expected allowed")
                elif not may_allow and not _denied(response):
                    problems.append(f"{username} {place} (outside): {status}, expected refused")
            continue
        before = AuditEntry.objects.filter(username=username, action="export").count()
        response = _call(client, _url(name, rule, extra=extra), rule)
        status = response.status_code
        if status >= 500:
            problems.append(f"{username}: {status}")
            continue
        if allowed and not _allowed(response):
            problems.append(f"{username}: {status}, expected allowed")
        if not allowed and not _denied(response):
            problems.append(f"{username}: {status}, expected refused")
        if rule.area_list and username != "admin" and status == 200:
            if marker(outside).encode() in _body(response):
                problems.append(f"{username}: shows {marker(outside)} (outside its area)")
        if rule.export and status == 200:
            after = AuditEntry.objects.filter(username=username, action="export").count()
            if after != before + 1:
                problems.append(f"{username}: export without an audit entry")
    assert problems == [], f"{name}: " + "; ".join(problems)


# --- routes with their own checks ---------------------------------------------------------


def _tile_of(point, z=15):
    import math

    lon, lat = point.x, point.y
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, x, y


@pytest.mark.parametrize("username", ROLES)
def test_vector_tiles_outside_the_area_are_empty(places, username, client):
    from accounts.models import User

    client.force_login(User.objects.get(username=username))
    _inside, outside = INSIDE_OUTSIDE[username]
    z, x, y = _tile_of(places[outside].point)
    from gridmap import tiles

    for layer in tiles.LAYERS:
        response = client.get(reverse("map-tile", args=[layer, z, x, y]))
        assert response.status_code in (200, 204, 400), (layer, response.status_code)
        if username != "admin" and response.status_code == 200:
            body = _body(response)
            assert marker(outside).encode() not in body, layer
            place_grid_code = places[outside].grid.code.encode()
            assert place_grid_code not in body, f"{layer}: grid {outside} in the tile"


def test_vector_tiles_refuse_anonymous_visitors(places):
    from gridmap import tiles

    z, x, y = _tile_of(places["A"].point)
    layer = next(iter(tiles.LAYERS))
    assert Client().get(reverse("map-tile", args=[layer, z, x, y])).status_code in (302, 401, 403)


@pytest.mark.parametrize("username", sorted(EVERYONE - {"admin"}))
def test_admin_is_closed_to_every_role_but_the_system_administrator(username, client, db):
    from accounts.models import User

    client.force_login(User.objects.get(username=username))
    response = client.get("/admin/")
    assert _is_login_redirect(response)
    assert client.get("/admin/layers/person/").status_code == 302


def test_admin_is_open_to_the_system_administrator(client, db):
    from accounts.models import User

    client.force_login(User.objects.get(username="admin"))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/layers/person/").status_code == 200
    assert Client().get("/admin/").status_code == 302


@pytest.mark.parametrize("username", ROLES)
def test_locate_shows_workers_only_in_area(places, username, client):
    from accounts.models import User

    client.force_login(User.objects.get(username=username))
    inside, outside = INSIDE_OUTSIDE[username]
    url = reverse("layers:locate")
    for place, visible in ((inside, username != "renshe"), (outside, username == "admin")):
        point = places[place].point
        response = client.get(url, {"lon": point.x, "lat": point.y})
        if response.status_code == 400 and place == "D":
            continue  # place D lies beyond the area the locate API serves: nothing shown
        assert response.status_code == 200, (place, response.content)
        body = response.json()
        assert body["workers_visible"] is visible, place
        if not visible:
            assert body["workers"] == []


# --- issue 14: a handler sees a case only through an active assignment --------------------
# Reassigning, returning or escalating a case supersedes its assignments: the former
# handler loses sight of it everywhere (pages, phone page, APIs, map, export, reveal,
# reminders), unless it lies in his own area. A case he carried to the end stays his.


def _one_case_urls(case, attachment):
    """Return {label: url} of every route that shows one case or a record of it."""
    return {
        "case page": reverse("cases:detail", args=[case.pk]),
        "phone page": reverse("cases:mobile-case", args=[case.pk]),
        "API": reverse("cases:api-case", args=[case.pk]),
        "map popup": reverse("map-case", args=[case.pk]),
        "Open311": reverse(
            "interop:open311-request", kwargs={"request_id": case.number, "fmt": "json"}
        ),
        "OGC API": reverse(
            "interop:ogc-item", kwargs={"collection_id": "cases", "feature_id": case.pk}
        ),
        "attachment": reverse("cases:attachment", args=[attachment.pk]),
    }


def _list_urls(case):
    """Return {label: (url, query)} of the lists that would name the case."""
    p = case.location
    bbox = f"{p.x - 0.0005},{p.y - 0.0005},{p.x + 0.0005},{p.y + 0.0005}"
    return {
        "case list": (reverse("cases:list"), {"tab": "all"}),
        "phone list": (reverse("cases:mobile"), {}),
        "API list": (reverse("cases:api-cases"), {}),
        "Open311 list": (
            reverse("interop:open311-requests", kwargs={"fmt": "json"}),
            {"service_code": case.category.code},
        ),
        "OGC items": (
            reverse("interop:ogc-items", kwargs={"collection_id": "cases"}),
            {"bbox": bbox, "limit": 1000},
        ),
        "export": (reverse("layers:export"), {"layer": "cases", "format": "csv"}),
        "reminders": (reverse("cases:notifications"), {}),
    }


def _sees(client, case, attachment):
    """Return {label: True if the route shows the case} for one user's client."""
    seen = {}
    for label, url in _one_case_urls(case, attachment).items():
        status = client.get(url).status_code
        assert status < 500, (label, status)
        seen[label] = status == 200
    for label, (url, query) in _list_urls(case).items():
        response = client.get(url, query)
        assert response.status_code < 500, (label, response.status_code)
        seen[label] = case.number.encode() in _body(response)
    return seen


def _dispatched_to(case, handler, by):
    """Put the case in hand of `handler` (a GridWorker or HandlerUnit), as a dispatcher would."""
    from cases import services
    from cases.models import Case

    Case.objects.filter(pk=case.pk).update(status="accepted")
    case.refresh_from_db()
    services.case_dispatch(case=case, by=by, handler=handler)
    case.refresh_from_db()
    return case


def _supersede(how, case, by, other):
    from cases import services

    if how == "reassigned":
        services.case_dispatch(case=case, by=by, handler=other)
    elif how == "returned":
        services.case_return(case=case, by=by, reason="不属于本网格 / not my grid")
    else:
        services.case_escalate(case=case, by=by)
    case.refresh_from_db()


@pytest.mark.parametrize("how", ["reassigned", "returned", "escalated"])
def test_a_grid_worker_loses_a_case_once_his_assignment_is_superseded(places, media, how):
    from accounts.models import User
    from cases.models import Notification

    wangge = User.objects.get(username="wangge")
    zhihui = User.objects.get(username="zhihui")
    place = places["B"]  # a Chuanfang grid outside his territory
    case = _dispatched_to(place.objects["cases.case"], wangge.grid_worker, zhihui)
    Notification.objects.create(
        user=wangge, case=case, message=f"案件 {case.number} 即将超期", created_at=case.reported_at
    )
    attachment, party = place.objects["cases.attachment"], place.objects["cases.party"]
    client = Client()
    client.force_login(wangge)
    reveal = reverse("accounts:reveal", kwargs={"kind": "party", "pk": party.pk})
    before = _sees(client, case, attachment)
    assert all(before.values()), f"assigned to him, yet hidden: {before}"
    assert client.post(reveal, {"reason": "回访当事人 call back"}).status_code == 200

    _supersede(how, case, zhihui, other=place.objects["layers.gridworker"])
    assert not case.assignments.filter(active=True, worker=wangge.grid_worker).exists()
    after = _sees(client, case, attachment)
    assert not any(after.values()), f"{how}, yet still shown: {after}"
    assert client.post(reveal, {"reason": "回访当事人 call back"}).status_code == 404


def test_a_department_loses_a_case_reassigned_to_another_unit(places, media):
    from accounts.models import User
    from cases import services

    renshe = User.objects.get(username="renshe")
    zhihui = User.objects.get(username="zhihui")
    place = places["A"]  # its case is dispatched to the labour department (places.py)
    case = place.objects["cases.case"]
    client = Client()
    client.force_login(renshe)
    before = _sees(client, case, place.objects["cases.attachment"])
    for label in ("case page", "API", "attachment", "case list", "API list"):
        assert before[label], f"dispatched to labour, yet hidden: {label}"
    case = _dispatched_to(case, services.community_mediation(case.community), zhihui)
    after = _sees(client, case, place.objects["cases.attachment"])
    assert not any(after.values()), f"reassigned, yet still shown: {after}"


def test_a_handler_keeps_the_cases_he_carried_to_the_end_and_no_other(places, media):
    """Resolving and closing keep the assignment: his own history stays visible."""
    from accounts.models import User
    from cases import services
    from tests.accounts.places import make_case

    wangge = User.objects.get(username="wangge")
    zhihui = User.objects.get(username="zhihui")
    place = places["B"]
    carried = _dispatched_to(place.objects["cases.case"], wangge.grid_worker, zhihui)
    services.case_start(case=carried, by=wangge)
    services.case_resolve(case=carried, by=wangge, note="已处理")
    services.case_verify(case=carried, by=zhihui)
    services.case_callback(case=carried, by=zhihui, rating="satisfied")
    services.case_close(case=carried, by=zhihui)
    taken = _dispatched_to(make_case(place.point, "B"), wangge.grid_worker, zhihui)
    _supersede("reassigned", taken, zhihui, other=place.objects["layers.gridworker"])
    client = Client()
    client.force_login(wangge)
    for case, visible in ((carried, True), (taken, False)):
        for name in ("cases:detail", "cases:api-case"):
            status = client.get(reverse(name, args=[case.pk])).status_code
            assert (status == 200) is visible, (case.status, name, status)


# --- issue 14: who may register what, and dispatch it at once --------------------------------
# The rules, stated here on their own (not read from the code under test):
# - the desks (intake clerk, district command centre, street and community centres, and
#   the system administrator) register 110 diversions, petitions, disputes, 12345 hotline
#   tickets and self-service reports; a grid worker registers his patrol reports only;
#   departments and analysts register nothing;
# - more than one person-visit only for a petition, and at most 100;
# - only the roles that accept and dispatch may ask for it at once (auto_dispatch).

DESK_SOURCES = {"police_110", "petition", "dispute", "hotline_12345", "self_service"}
SOURCES_OF = {
    "admin": DESK_SOURCES,
    "zhihui": DESK_SOURCES,
    "shouli": DESK_SOURCES,
    "majie": DESK_SOURCES,
    "chuanfang": DESK_SOURCES,
    "wangge": {"patrol"},
    "renshe": set(),
    "fenxi": set(),
}
DISPATCHERS = {"admin", "zhihui", "shouli", "majie", "chuanfang"}


def _intake(username, places, **fields):
    """Return the body of an intake at the role's own place."""
    point = places[INSIDE_OUTSIDE[username][0]].point
    body = {
        "source": "patrol" if username == "wangge" else "dispute",
        "category": "wage",
        "description": "矩阵测试 matrix intake",
        "location": {"type": "Point", "coordinates": [point.x, point.y]},
    }
    body.update(fields)
    return body


def _post_case(client, body, **headers):
    return client.post(reverse("cases:api-cases"), body, content_type="application/json", **headers)


def _written():
    from cases.models import Case, CaseEvent

    return Case.objects.count(), CaseEvent.objects.count()


def _client(username):
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _bilingual_refusal(response):
    text = str(response.json())
    return " / " in text and any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_api_intake_dispatches_at_once_only_for_roles_that_dispatch(places):
    problems = []
    for username in ROLES:
        client = _client(username)
        before = _written()
        response = _post_case(client, _intake(username, places, auto_dispatch=True))
        if username in DISPATCHERS:
            if response.status_code != 201 or response.json()["status"] != "dispatched":
                problems.append(f"{username}: {response.status_code}, expected dispatched")
            continue
        if response.status_code != 403 or not _bilingual_refusal(response):
            problems.append(f"{username}: {response.status_code}, expected a bilingual 403")
        if _written() != before:
            problems.append(f"{username}: a refused intake wrote rows")
    assert problems == []


def test_api_intake_sources_by_role(places):
    from cases.models import Source

    problems = []
    for username in ROLES:
        client = _client(username)
        for source in Source.values:
            before = _written()
            response = _post_case(client, _intake(username, places, source=source))
            if source in SOURCES_OF[username]:
                if response.status_code != 201:
                    problems.append(f"{username} {source}: {response.status_code}, expected 201")
                continue
            if response.status_code != 403 or not _bilingual_refusal(response):
                problems.append(f"{username} {source}: {response.status_code}, expected 403")
            if _written() != before:
                problems.append(f"{username} {source}: a refused intake wrote rows")
    assert problems == []


def test_api_intake_person_visits_only_for_petitions_and_bounded(places):
    cases = [
        ("shouli", "petition", 5, 201),
        ("chuanfang", "petition", 100, 201),
        ("shouli", "petition", 101, 400),
        ("zhihui", "petition", 999, 400),
        ("shouli", "police_110", 5, 400),
        ("majie", "dispute", 2, 400),
        ("wangge", "patrol", 999, 400),
        ("wangge", "patrol", 2, 400),
    ]
    problems = []
    for username, source, visitors, expected in cases:
        before = _written()
        body = _intake(username, places, source=source, visitors=visitors)
        response = _post_case(_client(username), body)
        if response.status_code != expected:
            problems.append(f"{username} {source} ×{visitors}: {response.status_code}")
        elif expected == 400:
            if "visitors" not in response.json() or not _bilingual_refusal(response):
                problems.append(f"{username} {source} ×{visitors}: no clear message")
            if _written() != before:
                problems.append(f"{username} {source} ×{visitors}: wrote rows")
    assert problems == []


def _intake_form(place, **fields):
    from cases.models import Category

    point = place.point
    return {
        "source": "patrol",
        "category": Category.objects.get(code="wage").pk,
        "urgency": "normal",
        "description": "矩阵测试 matrix intake",
        "visitors": 1,
        "lon": f"{point.x:.7f}",
        "lat": f"{point.y:.7f}",
        "crs": "wgs84",
        "confirm": "1",
        **fields,
    }


def test_intake_page_applies_the_same_rule(places):
    checks = [
        # (user, form fields, allowed)
        ("wangge", {}, True),
        ("wangge", {"source": "police_110"}, False),
        ("wangge", {"visitors": 999}, False),
        ("wangge", {"auto_dispatch": "on"}, False),
        ("shouli", {"source": "patrol"}, False),
        ("shouli", {"source": "dispute", "visitors": 3}, False),
        ("shouli", {"source": "petition", "visitors": 3, "auto_dispatch": "on"}, True),
    ]
    problems = []
    for username, fields, allowed in checks:
        client = _client(username)
        before = _written()
        place = places[INSIDE_OUTSIDE[username][0]]
        response = client.post(reverse("cases:new"), _intake_form(place, **fields))
        written = _written() != before
        if allowed and (response.status_code != 302 or not written):
            problems.append(f"{username} {fields}: {response.status_code}, expected registered")
        if not allowed and (response.status_code != 200 or written):
            problems.append(f"{username} {fields}: {response.status_code}, expected a form error")
    assert problems == []


def test_open311_intake_applies_the_source_rule_of_the_keys_account(places):
    from accounts.models import User
    from accounts.services import issue_api_token
    from cases.models import Category

    def key(username):
        user = User.objects.get(username=username)
        return issue_api_token(name=f"o311 {username}", user=user, scopes=["cases:create"])[1]

    code = Category.objects.get(code="wage").code
    checks = [
        ("shouli", None, 201),  # the hotline's default source: 12345
        ("shouli", "patrol", 403),
        ("wangge", None, 403),
        ("wangge", "police_110", 403),
        ("wangge", "patrol", 201),
    ]
    problems = []
    for username, source, expected in checks:
        point = places[INSIDE_OUTSIDE[username][0]].point
        data = {"api_key": key(username), "service_code": code, "description": "矩阵测试"}
        data.update({"lat": f"{point.y:.6f}", "long": f"{point.x:.6f}"})
        if source:
            data["source"] = source
        before = _written()
        response = Client().post("/open311/v2/requests.json", data)
        if response.status_code != expected:
            problems.append(f"{username} {source}: {response.status_code}, expected {expected}")
        if expected == 403 and _written() != before:
            problems.append(f"{username} {source}: wrote rows")
    assert problems == []


# --- issue 14: an Idempotency-Key replay answers only the receipt out of the caller's area ---


def test_an_idempotency_replay_out_of_area_answers_only_the_receipt(places):
    from accounts.models import User

    wangge = User.objects.get(username="wangge")
    client = _client("wangge")
    body = _intake("wangge", places)
    first = _post_case(client, body, HTTP_IDEMPOTENCY_KEY="matrix-replay-1")
    assert first.status_code == 201
    again = _post_case(client, body, HTTP_IDEMPOTENCY_KEY="matrix-replay-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert "status" in again.json()  # still his: the whole case
    # His territory is redrawn: the grid of the case is no longer his.
    wangge.grid_worker.grids.remove(places["A"].grid)
    receipt = _post_case(client, body, HTTP_IDEMPOTENCY_KEY="matrix-replay-1")
    assert receipt.status_code == 200 and receipt["Idempotent-Replayed"] == "true"
    assert receipt.json() == {"id": first.json()["id"], "number": first.json()["number"]}


# --- issue 14: separation of duties -------------------------------------------------------
# Whoever resolved a case, and his handling unit, may not verify it, call it back or close
# it; the clerk who registered it may not verify it (CASES_SEPARATION_OF_DUTIES, on).


def _resolved_by_chuanfang(places):
    """Return a case of A registered by shouli and resolved by the 船房 community centre."""
    from accounts.models import User
    from cases import services
    from cases.models import Category

    shouli = User.objects.get(username="shouli")
    chuanfang = User.objects.get(username="chuanfang")
    case, _ = services.case_register(
        source="dispute",
        category=Category.objects.get(code="wage"),
        description="矩阵测试 separation of duties",
        location=places["A"].point,
        by=shouli,
    )
    services.case_accept(case=case, by=shouli)
    mediation = services.community_mediation(case.community)
    services.case_dispatch(case=case, by=shouli, handler=mediation)
    services.case_start(case=case, by=chuanfang)
    services.case_resolve(case=case, by=chuanfang, note="调解成功")
    return case


def _act(username, case, action, api, **data):
    from cases.models import Case

    version = Case.objects.get(pk=case.pk).version
    client = _client(username)
    if api:
        url = reverse("cases:api-case-action", args=[case.pk, action])
        return client.post(url, {"version": version, **data}, content_type="application/json")
    url = reverse("cases:action", args=[case.pk, action])
    return client.post(url, {"version": version, **data})


@pytest.mark.parametrize("api", [False, True], ids=["page", "api"])
def test_nobody_checks_his_own_work(places, api):
    from accounts.models import User
    from cases import services
    from cases.models import Case, CaseEvent

    case = _resolved_by_chuanfang(places)
    # Another member of the community centre answers for the same unit.
    colleague = User.objects.create(
        username="chuanfang2",
        role="community",
        district=User.objects.get(username="chuanfang").district,
        community=case.community,
        street=case.street,
    )
    problems = []

    def refused(username, action, **data):
        events = CaseEvent.objects.filter(case=case).count()
        status = Case.objects.get(pk=case.pk).status
        response = _act(username, case, action, api, **data)
        if response.status_code != 403:
            problems.append(f"{username} {action}: {response.status_code}, expected 403")
        elif api and not _bilingual_refusal(response):
            problems.append(f"{username} {action}: no clear bilingual message")
        if CaseEvent.objects.filter(case=case).count() != events:
            problems.append(f"{username} {action}: wrote an event")
        if Case.objects.get(pk=case.pk).status != status:
            problems.append(f"{username} {action}: moved the case")
        detail = _client(username).get(reverse("cases:detail", args=[case.pk]))
        if f"/act/{action}/" in detail.content.decode():
            problems.append(f"{username} {action}: offered on the case page")

    def done(username, action, **data):
        response = _act(username, case, action, api, **data)
        if response.status_code not in (200, 302):
            problems.append(f"{username} {action}: {response.status_code}, expected done")

    refused("chuanfang", "verify")  # resolved it
    refused(colleague.username, "verify")  # his unit resolved it
    refused("shouli", "verify")  # registered it
    done("zhihui", "verify")
    refused("chuanfang", "callback", rating="satisfied")
    done("shouli", "callback", rating="satisfied")
    refused("chuanfang", "close")
    done("zhihui", "close")
    assert problems == []
    assert Case.objects.get(pk=case.pk).status == "closed"
    # Defence in depth: the service refuses it too, whoever calls it.
    second = _resolved_by_chuanfang(places)
    with pytest.raises(services.NotAllowed, match="核查"):
        services.case_verify(case=second, by=User.objects.get(username="chuanfang"))


def test_the_system_administrator_does_not_check_his_own_work_either(places):
    from accounts.models import User
    from cases import services

    admin = User.objects.get(username="admin")
    case = _resolved_by_chuanfang(places)
    services.case_reopen(case=case, by=admin)
    services.case_resolve(case=case, by=admin, note="管理员办结")
    response = _act("admin", case, "verify", api=True)
    assert response.status_code == 403, response.content


def test_a_deployment_may_turn_the_separation_of_duties_off(places, settings):
    settings.CASES_SEPARATION_OF_DUTIES = True
    case = _resolved_by_chuanfang(places)
    assert _act("chuanfang", case, "verify", api=True).status_code == 403
    settings.CASES_SEPARATION_OF_DUTIES = False
    assert _act("chuanfang", case, "verify", api=True).status_code == 200


# ==========================================================================================
# Admin personal data and the audit of bulk reads (issue 14, findings 4 and 7).
#
# Kept apart from RULES: those say who may call a route; these say what a call must leave
# behind (one bulk_read audit entry with its filter and row count) and what the admin may
# show of personal data (masked forms only). Rate limits: tests/accounts/test_bulk_reads.py.
# ==========================================================================================


def twin(username):
    """Return a new account with the role and area of a demo account.

    Bulk-read entries are counted per user, and the live-server tests (tests/interop)
    commit entries of the demo accounts while other tests run: a twin's are its test's own.
    """
    from accounts.models import User

    model = User.objects.get(username=username)
    return User.objects.create(
        username=f"{username}-twin",
        role=model.role,
        district=model.district,
        street=model.street,
        community=model.community,
        department=model.department,
        is_staff=model.is_staff,
        is_superuser=model.is_superuser,
    )


@dataclass(frozen=True)
class BulkRead:
    """A route that lists personal data, how to call it, and how many rows it answered."""

    route: str
    username: str
    rows: object  # response -> number of rows answered
    kwargs: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    obj: str = ""  # model label of the record in the URL (place A's)
    pk_kwarg: str = "object_id"


def _features(response):
    return len(response.json()["features"])


def _results(response):
    return len(response.json()["results"])


def _changelist_rows(response):
    return len(response.context["cl"].result_list)


def _one(response):
    return 1


def _admin_pages(model, label, query):
    route = f"admin:{model.replace('.', '_')}"
    return [
        BulkRead(f"{route}_changelist", "admin", _changelist_rows, query=query),
        BulkRead(f"{route}_change", "admin", _one, obj=model),
        BulkRead(f"{route}_history", "admin", _one, obj=model),
        BulkRead(f"{route}_delete", "admin", _one, obj=model),
    ]


BULK_READS = [
    BulkRead("interop:api-person-list", "chuanfang", _features, query={"kind": "floating"}),
    BulkRead("interop:api-rental-house-list", "majie", _features, query={"limit": "7"}),
    BulkRead("cases:api-cases", "zhihui", _results, query={"limit": "5"}),
    BulkRead(
        "interop:ogc-items",
        "chuanfang",
        lambda r: r.json()["numberReturned"],
        kwargs={"collection_id": "rentals"},
        query={"limit": "1000"},
    ),
    BulkRead(
        "interop:ogc-items",
        "zhihui",
        lambda r: r.json()["numberReturned"],
        kwargs={"collection_id": "cases"},
        query={"limit": "3", "offset": "2"},
    ),
    BulkRead(
        "interop:open311-requests",
        "shouli",
        lambda r: len(r.json()),
        kwargs={"fmt": "json"},
        query={"status": "open"},
    ),
    *_admin_pages("layers.person", "persons", {"kind": "floating"}),
    *_admin_pages("layers.rentalhouse", "rentals", {"q": "ZZMARK"}),
    *_admin_pages("cases.case", "cases", {"status": "registered"}),
]


def _declares_bulk_read(callback):
    owner = (
        getattr(callback, "model_admin", None)
        or getattr(callback, "cls", None)
        or getattr(callback, "view_class", None)
    )
    actions = getattr(callback, "actions", None)
    if actions is not None and actions.get("get") != "list":
        return False
    return bool(getattr(callback, "bulk_read", None) or getattr(owner, "bulk_read", None))


def test_every_list_of_personal_data_is_a_declared_bulk_read():
    """The routes that declare a bulk read are exactly those listed in BULK_READS.

    A new list of personal data must declare itself (accounts/bulk_reads.py) and be added
    here; a model admin's add page declares it too but reads nothing (and is not audited).
    """
    declared = {
        name
        for name, pattern in ROUTES.items()
        if _declares_bulk_read(pattern.callback) and not name.endswith("_add")
    }
    assert declared == {read.route for read in BULK_READS}


@pytest.mark.parametrize(
    "read", BULK_READS, ids=[f"{r.route}:{r.kwargs.get('collection_id', '')}" for r in BULK_READS]
)
def test_each_bulk_read_of_personal_data_leaves_one_audit_entry(read, places):
    from accounts.models import AuditEntry

    client = Client()
    user = twin(read.username)
    client.force_login(user)
    kwargs = dict(read.kwargs)
    if read.obj:
        kwargs[read.pk_kwarg] = places["A"].objects[read.obj].pk
    response = client.get(reverse(read.route, kwargs=kwargs or None), read.query)
    assert response.status_code == 200
    entries = AuditEntry.objects.filter(user=user, action="bulk_read")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.user == user and entry.role == user.role
    assert entry.detail["route"] == read.route
    assert entry.detail["query"] == read.query
    assert entry.detail["rows"] == read.rows(response)


def test_lists_without_personal_data_are_not_bulk_reads(places):
    from accounts.models import AuditEntry

    client = Client()
    user = twin("zhihui")
    client.force_login(user)
    client.get(reverse("interop:api-grid-list"))
    client.get(reverse("interop:ogc-items", kwargs={"collection_id": "grids"}))
    client.get(reverse("interop:api-person-detail", args=[places["A"].objects["layers.person"].pk]))
    assert not AuditEntry.objects.filter(user=user, action="bulk_read").exists()
    # ...while a list of persons is one (so the check above is not vacuous).
    client.get(reverse("interop:api-person-list"))
    assert AuditEntry.objects.filter(user=user, action="bulk_read").count() == 1


def _clear_values(place):
    from gridmap import pii

    person = place.objects["layers.person"]
    house = place.objects["layers.rentalhouse"]
    return (
        person,
        house,
        {
            "person name": person.clear["name"],
            "person ID number": person.clear["id_number"],
            "person phone": person.clear["phone"],
            "person address": person.address,
            "landlord": house.landlord_name,
            "landlord phone": pii.decrypt(bytes(house.landlord_phone_cipher)),
        },
    )


@pytest.mark.parametrize("model", ["layers.person", "layers.rentalhouse"])
def test_the_admin_shows_personal_data_only_masked(model, places):
    from accounts.models import User
    from gridmap import pii

    person, house, clear = _clear_values(places["A"])
    obj = person if model == "layers.person" else house
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    base = f"/admin/{model.replace('.', '/')}/"
    pages = {
        "list": (base, {}),
        "list filtered to the record": (base, {"community__id__exact": obj.community_id}),
        "search for the clear name": (base, {"q": clear["landlord"]}),
        "search for the person's clear name": (base, {"q": clear["person name"]}),
        "change form": (f"{base}{obj.pk}/change/", {}),
        "history": (f"{base}{obj.pk}/history/", {}),
        "delete page": (f"{base}{obj.pk}/delete/", {}),
    }
    leaks = []
    for page, (url, query) in pages.items():
        response = client.get(url, query)
        assert response.status_code == 200, page
        # The search box shows what the administrator typed: not a leak.
        body = response.content.decode().replace(query.get("q", "\0"), "")
        leaks += [f"{page}: {what}" for what, value in clear.items() if value and value in body]
        if page == "change form":
            masked = pii.mask_name(person.name if obj is person else house.landlord_name)
            assert masked in body
        if page.startswith("search"):
            # A search that matched the clear name would tell it: no search field holds one.
            changelist = response.context["cl"]
            assert changelist.result_count in (0, changelist.full_result_count)
    assert leaks == []


@pytest.mark.parametrize(
    "model,lookup,value",
    [
        ("layers.person", "name", "{person_name}"),
        ("layers.person", "name__startswith", "测"),
        ("layers.person", "address__contains", "ZZMARK-A"),
        ("layers.person", "household_no", ""),
        ("layers.person", "id_number_digest", "x"),
        ("layers.rentalhouse", "landlord_name", "{landlord}"),
        ("layers.rentalhouse", "landlord_name__contains", "房"),
    ],
)
def test_the_admin_refuses_to_filter_on_personal_data(model, lookup, value, places):
    """A filter on a clear value answers whether it matches: a reveal without audit."""
    from accounts.models import User

    _person, _house, clear = _clear_values(places["A"])
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    value = value.format(**{k.replace(" ", "_"): v for k, v in clear.items()})
    response = client.get(f"/admin/{model.replace('.', '/')}/", {lookup: value})
    assert response.status_code == 400
