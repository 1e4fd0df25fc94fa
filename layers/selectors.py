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


def overview_layers(user=None):
    """Return the streets, communities and grids for the overview map (of user's area)."""
    from layers.sql import area_feature_collection

    def ids(model):
        if user is None:
            return None
        from accounts.scoping import scope

        return list(scope(user, model.objects.all()).values_list("pk", flat=True))

    layers = {
        "街道 Streets": (
            area_feature_collection("street", ids(Street)),
            {"color": "#1f4e79", "weight": 3, "fill": False},
        ),
        "社区 Communities": (
            area_feature_collection("community", ids(Community)),
            {"color": "#2e75b6", "weight": 2, "fillOpacity": 0.05},
        ),
        "网格 Grids": (
            area_feature_collection("grid", ids(Grid)),
            {"color": "#c55a11", "weight": 1, "fillOpacity": 0.08},
        ),
    }
    # A community centre has no street of its own to show; an empty layer has no fields.
    return {name: layer for name, layer in layers.items() if layer[0]["features"]}


def district_counts(user=None):
    """Return the main counts shown on the home page (of user's area, when given)."""
    from cases.models import OPEN_STATUSES, Case
    from layers.models import Person, RentalHouse

    def rows(queryset):
        if user is None:
            return queryset
        from accounts.scoping import scope

        return scope(user, queryset)

    return {
        "grids": rows(Grid.objects.current()).count(),
        "rentals": rows(RentalHouse.objects.all()).count(),
        "registered": rows(Person.objects.filter(kind=Person.Kind.REGISTERED)).count(),
        "floating": rows(Person.objects.filter(kind=Person.Kind.FLOATING)).count(),
        "open_cases": rows(Case.objects.filter(status__in=OPEN_STATUSES)).count(),
        "unassigned": rows(Case.objects.filter(grid__isnull=True)).count(),
    }
