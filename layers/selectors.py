"""Reads of areas and grids."""

from layers.models import Community, Grid, Street


def grid_containing(point):
    """Return the current grid that contains the point, or None.

    A point on a boundary shared by two grids goes to the one with the smaller code, so
    the answer never depends on row order. Relies on the GiST index on layers_grid.geom.
    """
    return (
        Grid.objects.current()
        .filter(geom__intersects=point)
        .select_related("community__street")
        .order_by("code")
        .first()
    )


def community_containing(point):
    """Return the community that contains the point, or None."""
    return (
        Community.objects.filter(geom__intersects=point)
        .select_related("street")
        .order_by("code")
        .first()
    )


def street_containing(point):
    """Return the street that contains the point, or None."""
    return Street.objects.filter(geom__intersects=point).order_by("code").first()


def overview_layers():
    """Return the district's streets, communities and grids for the overview map."""
    from layers.sql import area_feature_collection

    return {
        "街道 Streets": (
            area_feature_collection("street"),
            {"color": "#1f4e79", "weight": 3, "fill": False},
        ),
        "社区 Communities": (
            area_feature_collection("community"),
            {"color": "#2e75b6", "weight": 2, "fillOpacity": 0.05},
        ),
        "网格 Grids": (
            area_feature_collection("grid"),
            {"color": "#c55a11", "weight": 1, "fillOpacity": 0.08},
        ),
    }


def district_counts():
    """Return the main counts shown on the home page."""
    from cases.models import OPEN_STATUSES, Case
    from layers.models import Person, RentalHouse

    return {
        "grids": Grid.objects.current().count(),
        "rentals": RentalHouse.objects.count(),
        "registered": Person.objects.filter(kind=Person.Kind.REGISTERED).count(),
        "floating": Person.objects.filter(kind=Person.Kind.FLOATING).count(),
        "open_cases": Case.objects.filter(status__in=OPEN_STATUSES).count(),
        "unassigned": Case.objects.filter(grid__isnull=True).count(),
    }
