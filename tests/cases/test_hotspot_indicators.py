"""Per-grid indicators of hotspot analysis, on a hand-built street with known answers."""

import itertools
import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from cases.hotspots import indicators
from cases.hotspots.indicators import Period
from tests.factories import make_community, make_grid, make_street, point, square

pytestmark = pytest.mark.django_db

BEIJING = ZoneInfo("Asia/Shanghai")
_n = itertools.count(1)
SIZE = 0.01  # degrees: about 1.01 km (east) × 1.11 km (north) at 24° N


def at(day, hour=12):
    return datetime(2026, 3, day, hour, tzinfo=BEIJING)


def person(grid_xy, kind, registered_with_police=True):
    from layers.models import Person

    n = next(_n)
    return Person.objects.create(
        location=point(*grid_xy),
        name=f"测试{n}",
        id_number_cipher=b"x",
        id_number_digest=f"hotspot-test-{n}",
        id_number_masked="5301**********0000",
        kind=kind,
        registered_with_police=registered_with_police,
    )


def rental(grid_xy, rooms, tenants):
    from layers.models import RentalHouse

    return RentalHouse.objects.create(
        location=point(*grid_xy),
        code=f"HOTSPOT-TEST-{next(_n)}",
        address="测试地址",
        rooms=rooms,
        tenant_count=tenants,
    )


def case(grid_xy, reported_at, *, category="wage", source="dispute", **kwargs):
    from cases.models import Case, Category

    return Case.objects.create(
        location=point(*grid_xy),
        number=f"HT{next(_n):010d}",
        source=source,
        category=Category.objects.get(code=category),
        description="测试",
        level="community",
        reported_at=reported_at,
        **kwargs,
    )


@pytest.fixture
def street():
    """A street far from the demo district: grids A, B, C in a row, known contents."""
    s = make_street(geom=square(103.0, 24.0, 0.1))
    c = make_community(street=s, geom=square(103.0, 24.0, 0.05))
    grids = {
        name: make_grid(community=c, geom=square(103.0 + k * SIZE, 24.0, SIZE))
        for k, name in enumerate("ABC")
    }
    inside = {name: (103.0 + k * SIZE + SIZE / 2, 24.0 + SIZE / 2) for k, name in enumerate("ABC")}
    # A: 2 registered, 6 floating (2 of them unregistered), 2 rentals (3 rooms, 9 tenants).
    for _ in range(2):
        person(inside["A"], "registered")
    for k in range(6):
        person(inside["A"], "floating", registered_with_police=k >= 2)
    rental(inside["A"], rooms=1, tenants=4)
    rental(inside["A"], rooms=2, tenants=5)
    # B: 4 floating, no registered resident, no rental.
    for _ in range(4):
        person(inside["B"], "floating")
    # C: nobody lives there.
    # Cases in March 2026 (period 1–31 March, Beijing dates).
    case(inside["A"], at(2))  # on time (no deadline)
    case(inside["A"], at(3), deadline=at(5), resolved_at=at(4))  # resolved in time
    case(inside["A"], at(4), deadline=at(6), resolved_at=at(9))  # resolved late
    case(inside["A"], at(5), deadline=at(6))  # never resolved: overdue now
    case(inside["A"], at(6), status="merged")  # a merged duplicate: not counted
    case(inside["A"], at(7), category="help")  # other category
    case(inside["A"], at(8), source="petition")  # other source
    case(inside["B"], at(31, 23))  # 31 March 23:00 Beijing = 15:00 UTC: inside
    case(inside["B"], datetime(2026, 3, 31, 16, 30, tzinfo=ZoneInfo("UTC")))  # 1 April Beijing
    case(inside["B"], datetime(2026, 2, 28, 16, 30, tzinfo=ZoneInfo("UTC")))  # 1 March Beijing
    return {"street": s, "community": c, "grids": grids, "inside": inside}


MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


def test_grid_indicators_count_people_rentals_and_cases_of_each_grid(street):
    ids = [g.pk for g in street["grids"].values()]
    frame = indicators.grid_indicators(grid_ids=ids, period=MARCH)
    a, b, c = (frame.loc[street["grids"][name].pk] for name in "ABC")
    assert (a.registered, a.floating, a.population) == (2, 6, 8)
    assert a.unregistered_tenants == 2
    assert (a.rentals, a.rooms, a.tenants) == (2, 3, 9)
    assert a.tenants_per_room == 3.0
    assert a.floating_ratio == 3.0
    # 6 counted cases (merged excluded), 2 overdue (resolved late, still open).
    assert a.cases == 6
    assert a.overdue == 2
    assert a.overdue_share == pytest.approx(2 / 6)
    assert a.case_rate_per_1000 == pytest.approx(6 * 1000 / 8)
    # B: 1 March and 31 March Beijing dates count, 1 April does not.
    assert b.cases == 2
    assert b.floating_ratio == 4.0  # no registered resident: divided by 1
    assert b.tenants_per_room == 0.0
    assert b.case_rate_per_1000 == pytest.approx(2 * 1000 / 4)
    assert c.cases == 0 and c.population == 0
    assert math.isnan(c.case_rate_per_1000)
    assert math.isnan(c.overdue_share)


def test_rental_density_uses_the_metric_area_of_the_grid(street):
    from django.contrib.gis.geos import GEOSGeometry

    grid = street["grids"]["A"]
    frame = indicators.grid_indicators(grid_ids=[grid.pk], period=MARCH)
    metric = GEOSGeometry(grid.geom.wkt, srid=4326).transform(4543, clone=True)
    area_km2 = metric.area / 1e6
    assert 1.0 < area_km2 < 1.2
    assert frame.loc[grid.pk, "area_km2"] == pytest.approx(area_km2, rel=1e-6)
    assert frame.loc[grid.pk, "rental_density"] == pytest.approx(2 / area_km2, rel=1e-6)


def test_grid_indicators_filter_by_category_and_source(street):
    from cases.models import Category

    ids = [g.pk for g in street["grids"].values()]
    a = street["grids"]["A"].pk
    help_id = Category.objects.get(code="help").pk
    assert (
        indicators.grid_indicators(grid_ids=ids, period=MARCH, category_id=help_id).loc[a, "cases"]
        == 1
    )
    assert (
        indicators.grid_indicators(grid_ids=ids, period=MARCH, source="petition").loc[a, "cases"]
        == 1
    )
    assert (
        indicators.grid_indicators(grid_ids=ids, period=MARCH, source="dispute").loc[a, "cases"]
        == 5
    )


def test_grid_indicators_ignore_retired_grid_versions(street):
    from django.utils import timezone

    grid = street["grids"]["C"]
    grid.valid_to = timezone.now()
    grid.save()
    ids = [g.pk for g in street["grids"].values()]
    frame = indicators.grid_indicators(grid_ids=ids, period=MARCH)
    assert grid.pk not in frame.index
    assert len(frame) == 2


def test_aggregate_sums_counts_and_recomputes_ratios_per_community(street):
    ids = [g.pk for g in street["grids"].values()]
    frame = indicators.grid_indicators(grid_ids=ids, period=MARCH)
    community = indicators.aggregate(frame, "community").loc[street["community"].pk]
    assert community.grids == 3
    assert community.cases == 8
    assert community.population == 12
    assert community.case_rate_per_1000 == pytest.approx(8 * 1000 / 12)
    assert community.floating_ratio == pytest.approx(10 / 2)
    street_row = indicators.aggregate(frame, "street").loc[street["street"].pk]
    assert street_row.cases == 8


def test_weekly_cube_counts_cases_per_grid_and_beijing_week(street):
    ids = [g.pk for g in street["grids"].values()]
    cube = indicators.weekly_cube(grid_ids=ids, period=MARCH)
    # 1 March 2026 is a Sunday: its week starts on Monday 23 February.
    assert cube.columns[0] == date(2026, 2, 23)
    assert cube.columns[-1] == date(2026, 3, 30)
    assert len(cube.columns) == 6
    a, b = street["grids"]["A"].pk, street["grids"]["B"].pk
    assert cube.loc[a].sum() == 6
    assert cube.loc[b, date(2026, 2, 23)] == 1  # Sunday 1 March, Beijing
    assert cube.loc[b, date(2026, 3, 30)] == 1  # Tuesday 31 March, 23:00 Beijing
    assert cube.loc[street["grids"]["C"].pk].sum() == 0
    assert list(cube.index) == ids


def test_case_points_are_in_metres(street):
    ids = [g.pk for g in street["grids"].values()]
    xy = indicators.case_points(grid_ids=ids, period=MARCH)
    assert xy.shape == (8, 2)
    # EPSG:4543 (CM 102° E, false easting 500 km): 103° E is ~600 km east.
    assert (xy[:, 0] > 500_000).all() and (xy[:, 1] > 2_600_000).all()


def test_period_bounds_and_previous_period():
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    start, end = period.bounds()
    assert start == datetime(2026, 3, 1, tzinfo=BEIJING)
    assert end == datetime(2026, 4, 1, tzinfo=BEIJING)
    assert period.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))
    assert period.days == 31
    with pytest.raises(ValueError):
        Period(date(2026, 3, 2), date(2026, 3, 1))
    assert Period(date(2026, 3, 2), date(2026, 3, 8)).weeks() == [date(2026, 3, 2)]


def test_case_bins_give_the_same_density_as_the_case_points(street):
    import numpy as np

    from cases.hotspots import stats

    ids = [g.pk for g in street["grids"].values()]
    xy = indicators.case_points(grid_ids=ids, period=MARCH)
    xmin, ymin = xy.min(axis=0) - 500
    xmax, ymax = xy.max(axis=0) + 500
    cell = 50.0
    centres, counts = indicators.case_bins(
        grid_ids=ids, period=MARCH, xmin=xmin, ymax=ymax, cell=cell
    )
    assert counts.sum() == 8
    bbox = (xmin, ymin, xmax, ymax)
    direct = stats.kernel_density(xy, bbox, cell, 300.0)
    binned = stats.kernel_density(centres, bbox, cell, 300.0, weights=counts)
    np.testing.assert_allclose(binned.values, direct.values, rtol=1e-9, atol=1e-12)
