"""The one place that decides which rows a user may see: district ⊃ street ⊃ community ⊃ grid.

Every page, API, export, tile and search filters through ``scope(user, queryset)`` (or
``area_q`` when it builds its own query), never through its own role checks.
"""

from django.db.models import Q

from accounts.models import Role

WHOLE_DISTRICT_ROLES = {Role.DISTRICT, Role.INTAKE, Role.ANALYST}

# For each model (app_label.model_name), the lookups that lead from it to its grid,
# community, street and district. Point layers and cases carry all three directly.
_POINT = {
    "grid": "grid",
    "community": "community",
    "street": "street",
    "district": "street__district",
}
PATHS = {
    "layers.district": {"district": "pk"},
    "layers.street": {"street": "pk", "district": "district"},
    "layers.community": {"community": "pk", "street": "street", "district": "street__district"},
    "layers.grid": {
        "grid": "pk",
        "community": "community",
        "street": "community__street",
        "district": "community__street__district",
    },
    "layers.rentalhouse": _POINT,
    "layers.person": _POINT,
    "layers.organisation": _POINT,
    "layers.compound": _POINT,
    "cases.case": _POINT,
}

NOTHING = Q(pk__in=[])


def territory_grid_ids(user):
    """Return the ids of the grids of a grid worker's territory."""
    worker = getattr(user, "grid_worker", None)
    if worker is None:
        return []
    return list(worker.grids.values_list("pk", flat=True))


def area_q(user, paths):
    """Return the Q that limits rows (reached through `paths`) to the user's area."""
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    if user.is_superuser or user.role == Role.ADMIN:
        return Q()
    role = user.role
    if role in WHOLE_DISTRICT_ROLES:
        return Q(**{paths["district"]: user.district_id}) if user.district_id else NOTHING
    if role == Role.STREET:
        return (
            Q(**{paths["street"]: user.street_id})
            if user.street_id and "street" in paths
            else NOTHING
        )
    if role == Role.COMMUNITY:
        if user.community_id and "community" in paths:
            return Q(**{paths["community"]: user.community_id})
        return NOTHING
    if role == Role.GRID_WORKER:
        if "grid" not in paths:
            return NOTHING
        return Q(**{f"{paths['grid']}__in": territory_grid_ids(user)})
    # Department handlers see cases dispatched to them (cases.selectors), no area rows.
    return NOTHING


def scope(user, queryset):
    """Return the queryset limited to the user's area."""
    label = queryset.model._meta.label_lower
    if label not in PATHS:
        raise LookupError(f"no area scoping is defined for {label}")
    return queryset.filter(area_q(user, PATHS[label]))
