"""Reads of areas and grids."""

from layers.models import Community, Grid, Street


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


# --- locate, unassigned points, exports ---------------------------------------------------


def locate(user, lon, lat):
    """Return the areas at a WGS84 point and, if the user may see that grid, its workers."""
    from gridmap.tiles import viewer_scope
    from layers import sql

    found = sql.locate(lon, lat)
    grid = found["grid"]
    # The viewer's grids as accounts.scoping allows them, kept per process for a few
    # seconds and per data version (the vector tiles use the same): no query per lookup.
    visible = grid is not None and viewer_scope(user).allows_grid(grid["id"])
    found["workers"] = found["workers"] if visible else []
    found["workers_visible"] = visible
    return found


def point_models():
    """Return {layer name: model} of the point layers that carry a grid."""
    from cases.models import Case
    from layers.models import Compound, Organisation, Person, RentalHouse

    return {
        "rentals": RentalHouse,
        "persons": Person,
        "cases": Case,
        "organisations": Organisation,
        "compounds": Compound,
    }


def unassigned(user, layer):
    """Return the user's point records of a layer that lie outside every current grid."""
    from accounts.scoping import scope

    model = point_models()[layer]
    qs = model.objects.filter(grid__isnull=True)
    # A point outside every grid may also lie outside every street: area scoping cannot
    # reach it, so whole-district roles see those too (nothing else would).
    return scope(user, qs) | _unplaced_for(user, qs)


def _unplaced_for(user, qs):
    from accounts.scoping import WHOLE_DISTRICT_ROLES, is_system_admin

    if is_system_admin(user) or getattr(user, "role", None) in WHOLE_DISTRICT_ROLES:
        return qs.filter(street__isnull=True)
    return qs.none()


def unassigned_counts(user):
    """Return {layer: number of the user's points outside every grid}."""
    return {layer: unassigned(user, layer).count() for layer in point_models()}


def import_jobs(user, limit=50):
    """Return the latest import jobs (administrators see all)."""
    from layers.models import ImportJob

    return ImportJob.objects.select_related("created_by")[:limit]
