import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts import scoping
from tests.accounts.places import INSIDE_OUTSIDE, ROLES

POINT_MODELS = [
    "layers.person",
    "layers.rentalhouse",
    "layers.organisation",
    "layers.compound",
    "cases.case",
    "cases.party",
]


def _visible(user, obj):
    model = type(obj)
    return scoping.scope(user, model.objects.filter(pk=obj.pk)).exists()


@pytest.mark.parametrize("username", ROLES)
@pytest.mark.parametrize("label", POINT_MODELS)
def test_each_role_sees_records_inside_its_area_and_none_outside(places, user, username, label):
    account = user(username)
    inside, outside = INSIDE_OUTSIDE[username]
    expect_inside = username != "renshe" or label.startswith("cases.")
    assert _visible(account, places[inside].objects[label]) is expect_inside
    assert _visible(account, places[outside].objects[label]) is (username == "admin")


def test_grid_worker_sees_only_his_grids(places, user):
    wangge = user("wangge")
    from layers.models import Grid

    visible = set(scoping.scope(wangge, Grid.objects.all()).values_list("pk", flat=True))
    assert visible == set(wangge.grid_worker.grids.values_list("pk", flat=True))
    assert places["B"].grid.pk not in visible


def test_department_handler_sees_only_cases_dispatched_to_it(places, user):
    from cases.models import Case, CaseEvent
    from layers.models import Grid, Person

    renshe = user("renshe")
    cases = set(scoping.scope(renshe, Case.objects.all()).values_list("pk", flat=True))
    assert places["A"].objects["cases.case"].pk in cases
    assert places["B"].objects["cases.case"].pk not in cases
    assert not scoping.scope(renshe, Person.objects.all()).exists()
    assert not scoping.scope(renshe, Grid.objects.all()).exists()
    # Records hanging off a case follow the case.
    event_cases = scoping.scope(renshe, CaseEvent.objects.all()).values_list("case", flat=True)
    assert set(event_cases) <= cases


def test_grid_workers_are_visible_where_one_of_their_grids_is(places, user):
    from layers.models import GridWorker

    chuanfang = user("chuanfang")
    workers = scoping.scope(chuanfang, GridWorker.objects.all())
    assert workers.filter(pk=places["A"].objects["layers.gridworker"].pk).exists()
    assert not workers.filter(pk=places["C"].objects["layers.gridworker"].pk).exists()
    # No duplicates although a worker can have several grids in the area.
    assert workers.count() == len(set(workers.values_list("pk", flat=True)))


def test_inactive_and_anonymous_users_see_nothing(places, user):
    from django.contrib.auth.models import AnonymousUser

    from layers.models import Person

    zhihui = user("zhihui")
    zhihui.is_active = False
    assert not scoping.scope(zhihui, Person.objects.all()).exists()
    assert not scoping.scope(AnonymousUser(), Person.objects.all()).exists()


def test_unknown_models_refuse_to_be_scoped(user):
    from accounts.models import AuditEntry

    with pytest.raises(LookupError):
        scoping.scope(user("zhihui"), AuditEntry.objects.all())


def test_get_scoped_or_404_hides_records_outside_the_area(places, user):
    from django.http import Http404

    from layers.models import Person

    majie = user("majie")
    outside = places["A"].objects["layers.person"]
    with pytest.raises(Http404):
        scoping.get_scoped_or_404(majie, Person.objects.all(), pk=outside.pk)
    with pytest.raises(Http404):
        scoping.get_scoped_or_404(majie, Person.objects.all(), pk="1 OR 1=1")


@pytest.mark.parametrize("label", ["layers.person", "cases.case", "layers.grid"])
def test_admin_change_lists_of_staff_other_than_superusers_are_scoped(places, user, label):
    from django.apps import apps

    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = majie = user("majie")
    majie.is_staff = True
    rows = model_admin.get_queryset(request)
    assert rows.filter(pk=places["C"].objects[label].pk).exists()
    assert not rows.filter(pk=places["A"].objects[label].pk).exists()
    request.user = user("admin")
    assert model_admin.get_queryset(request).filter(pk=places["D"].objects[label].pk).exists()


def test_every_admin_of_an_area_model_is_scoped():
    unscoped = [
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if scoping.is_scoped(model) and not getattr(model_admin, "_gridmap_scoped", False)
    ]
    assert unscoped == []


@pytest.mark.parametrize(
    "username,may",
    [
        ("zhihui", True),
        ("majie", True),
        ("chuanfang", True),
        ("wangge", True),
        ("fenxi", False),
        ("shouli", False),
        ("renshe", False),
        ("admin", False),
    ],
)
def test_reveal_is_for_area_centres_and_grid_workers_only(user, username, may):
    assert scoping.can_reveal(user(username)) is may


def test_home_page_counts_only_the_users_area(client, login, places):
    login("wangge")
    response = client.get("/")
    assert response.status_code == 200
    counts = response.context["counts"]
    assert counts["grids"] == 2
    login("zhihui")
    assert client.get("/").context["counts"]["grids"] > 2
