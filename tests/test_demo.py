"""The demo district mirrors the published figures of the Xishan pilot."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from cases.models import Callback, Case
from layers.models import Community, Compound, Grid, Organisation, Person, Street

pytestmark = pytest.mark.django_db


def test_the_pilot_streets_and_communities_are_there():
    assert set(Street.objects.values_list("name", flat=True)) == {
        "马街街道",
        "福海街道",
        "团结街道",
    }
    where = dict(Community.objects.values_list("name", "street__name"))
    assert where == {
        "红星社区": "马街街道",
        "西丽园社区": "马街街道",
        "船房社区": "福海街道",
        "和平村": "团结街道",
    }
    assert Community.objects.get(name="和平村").kind == "rural"
    assert Community.objects.get(name="船房社区").kind == "urban_village"


def test_every_community_is_split_into_grids_of_realistic_size():
    for community in Community.objects.annotate(n=Count("grids")):
        assert community.n >= 4
    areas_km2 = [g.geom.transform(4543, clone=True).area / 1e6 for g in Grid.objects.current()]
    assert 0.02 < min(areas_km2) and max(areas_km2) < 2.5


def test_chuanfang_has_its_registered_and_floating_population():
    people = Person.objects.filter(community__name="船房社区")
    assert people.filter(kind="registered").count() == 4_500
    assert people.filter(kind="floating").count() == 72_000
    # The tenants live in Chuanfang's rental houses.
    tenants = people.filter(kind="floating")
    assert not tenants.filter(rental_house__isnull=True).exists()


def test_hongxing_has_its_households_compounds_and_enterprises():
    compounds = Compound.objects.filter(community__name="红星社区")
    assert compounds.count() == 6
    assert compounds.filter(high_rise=True).count() == 6
    assert compounds.aggregate(s=Sum("households"))["s"] == 5_536
    households = (
        Person.objects.filter(community__name="红星社区", kind="registered")
        .values("household_no")
        .distinct()
        .count()
    )
    assert households == 5_536
    orgs = Organisation.objects.filter(community__name="红星社区")
    assert orgs.filter(kind="enterprise").count() == 2_058
    assert orgs.filter(kind="institution").count() == 3


def test_the_pilot_case_history_matches_the_report():
    diverted = Case.objects.filter(source="police_110")
    assert diverted.count() == 56
    assert diverted.values("category").distinct().count() == 16
    assert diverted.filter(status="closed").count() == 22
    callbacks = Callback.objects.filter(case__source="police_110")
    satisfied = callbacks.exclude(rating="unsatisfied").count()
    assert round(satisfied / callbacks.count(), 2) == 0.89
    for name in ("劳资纠纷", "群众求助", "劳动保障", "买卖纠纷"):
        assert diverted.filter(category__name=name).exists()


def test_every_demo_point_lies_in_its_grid():
    for model in (Person, Case, Organisation):
        outside = model.objects.exclude(grid__isnull=True).extra(
            where=[
                "NOT ST_Intersects(location, (SELECT geom FROM layers_grid g WHERE g.id = grid_id))"
            ]
        )
        assert not outside.exists(), model


def test_loading_the_demo_twice_changes_nothing():
    before = (Grid.objects.count(), Person.objects.count(), Case.objects.count())
    call_command("load_demo", verbosity=0)
    assert (Grid.objects.count(), Person.objects.count(), Case.objects.count()) == before


def test_demo_accounts_exist_for_every_role():
    from accounts.models import Role, User

    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    worker = User.objects.get(username="wangge")
    assert worker.grid_worker.grids.count() == 2
