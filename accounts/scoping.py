"""The one place that decides which rows a user may see: district ⊃ street ⊃ community ⊃ grid.

Every page, API, export, tile and search filters through ``scope(user, queryset)`` (or
``area_q`` when it builds its own query), never through its own role checks. Who may do
what beyond seeing rows (reveal personal data, read the audit log, use the admin) is
decided here too, by the ``can_*`` functions.

- District command centre, intake clerk, analyst: their whole district.
- Street centre: its street. Community centre: its community.
- Grid worker: the grids of his territory (layers.GridWorker.grids).
- Department handler: no area; only the cases dispatched to its department
  (``department_cases_q``) and the records hanging off those cases.
- System administrator (role admin or superuser): everything.

A handler sees a case through its assignment only while that assignment is active.
Reassigning, returning or escalating a case supersedes its assignments (inactive), and
the former handler loses sight of the case, its parties and their phones, unless the case
lies in his own area. Resolving, verifying, calling back and closing keep the assignment
active, so a handler keeps the cases he carried to the end: his own history.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from accounts.models import AUDIT_READER_ROLES, REVEAL_ROLES, Role

WHOLE_DISTRICT_ROLES = {Role.DISTRICT, Role.INTAKE, Role.ANALYST}

# For each model (app_label.model_name), the lookups that lead from it to its grid,
# community, street and district. Point layers and cases carry all three directly.
_POINT = {
    "grid": "grid",
    "community": "community",
    "street": "street",
    "district": "street__district",
}


def _via(prefix, paths=_POINT):
    return {level: f"{prefix}__{path}" for level, path in paths.items()}


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
    # A worker is visible where one of his grids is; the join can repeat rows, so
    # scope() filters through a pk subquery (MULTI_VALUED).
    "layers.gridworker": {
        "grid": "grids",
        "community": "grids__community",
        "street": "grids__community__street",
        "district": "grids__community__street__district",
    },
    "cases.case": _POINT,
    "accounts.user": {
        "community": "community",
        "street": "street",
        "district": "district",
    },
}
# Models that hang off a case: scoped through their case, departments included.
CASE_CHILDREN = {
    "cases.caseevent": "case",
    "cases.callback": "case",
    "cases.assignment": "case",
    "cases.party": "case",
    "cases.attachment": "case",
    "cases.consultation": "case",
    "cases.reminder": "case",
    "cases.notification": "case",
}
for _label, _prefix in CASE_CHILDREN.items():
    PATHS[_label] = _via(_prefix)
MULTI_VALUED = {"layers.gridworker"}

# Always false, and still plain SQL ("id IS NULL"): Q(pk__in=[]) would make Django raise
# EmptyResultSet in code that compiles the query itself (exports, tiles).
NOTHING = Q(pk__isnull=True)


def is_system_admin(user):
    return bool(user.is_authenticated and user.is_active) and (
        user.is_superuser or user.role == Role.ADMIN
    )


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
    # Department handlers see cases dispatched to them (department_cases_q), no area rows.
    return NOTHING


def department_cases_q(user, prefix=""):
    """Return the Q of the cases dispatched to the user's department (hook for cases/).

    A case is "dispatched to" a department while one of its active assignments names a
    handling unit of that department (cases.Assignment → cases.HandlerUnit); see the
    module docstring for why superseded assignments do not count. `prefix` is the lookup
    from the queried model to its case ("case__" for case events).
    """
    if user.role != Role.DEPARTMENT or not user.department:
        return NOTHING
    try:
        from cases.models import Assignment
    except ImportError:  # the dispatch model is not there: no case is dispatched
        return NOTHING
    case_ids = Assignment.objects.filter(
        active=True, unit__kind="department", unit__department=user.department
    ).values("case_id")
    return Q(**{f"{prefix}pk__in": case_ids})


def worker_cases_q(user, prefix=""):
    """Return the Q of the cases actively assigned to the user as a grid worker."""
    try:
        from cases.models import Assignment
    except ImportError:
        return NOTHING
    case_ids = Assignment.objects.filter(active=True, worker__user=user).values("case_id")
    return Q(**{f"{prefix}pk__in": case_ids})


def scope_q(user, label):
    """Return the Q that limits rows of the model `label` (app_label.model) to the user."""
    if label not in PATHS:
        raise LookupError(f"no area scoping is defined for {label}")
    q = area_q(user, PATHS[label])
    if not (user.is_authenticated and user.is_active):
        return q
    prefix = (
        ""
        if label == "cases.case"
        else CASE_CHILDREN[label] + "__"
        if label in CASE_CHILDREN
        else None
    )
    if prefix is None:
        return q
    if user.role == Role.DEPARTMENT:
        q = department_cases_q(user, prefix=prefix)
    elif user.role == Role.GRID_WORKER:
        # A grid worker also sees the cases assigned to him outside his grids.
        q |= worker_cases_q(user, prefix=prefix)
    return q


def scope(user, queryset):
    """Return the queryset limited to the user's area."""
    label = queryset.model._meta.label_lower
    q = scope_q(user, label)
    if label in MULTI_VALUED and q:
        return queryset.filter(pk__in=queryset.model._default_manager.filter(q).values("pk"))
    return queryset.filter(q)


def is_scoped(model):
    return model._meta.label_lower in PATHS


def get_scoped_or_404(user, queryset, **lookup):
    """Return the one object of the queryset in the user's area, or raise Http404.

    Out-of-area objects answer 404, not 403, so that their existence does not leak.
    """
    try:
        return scope(user, queryset).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("不在您的辖区内或不存在 / not found in your area") from None


def in_scope(user, obj):
    """Return True when the object lies in the user's area."""
    model = type(obj)
    return scope(user, model._default_manager.filter(pk=obj.pk)).exists()


# --- What a role may do beyond seeing rows ------------------------------------------------


def can_reveal(user, obj=None):
    """Return True when the user may reveal personal data (of `obj`, when given).

    District, street and community centres within their area, a grid worker for the
    records of his grids; not analysts, intake clerks, departments or the system
    administrator, who work with masked data.
    """
    if not (user.is_authenticated and user.is_active) or user.role not in REVEAL_ROLES:
        return False
    return obj is None or in_scope(user, obj)


def can_read_audit(user):
    """Return True when the user may search the audit log (the district, and the admin)."""
    return bool(user.is_authenticated and user.is_active) and (
        user.is_superuser or user.role in AUDIT_READER_ROLES
    )


def has_role(user, *roles):
    """Return True when the user is active and has one of the roles (admin: always)."""
    if not (user.is_authenticated and user.is_active):
        return False
    return is_system_admin(user) or user.role in roles


def role_required(*roles):
    """Decorate a view so that only the given roles (and the system administrator) pass."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied("您的角色无权访问此页面 / your role may not open this page")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# --- The admin ---------------------------------------------------------------------------


def _scoped_get_queryset(original):
    def get_queryset(request):
        queryset = original(request)
        if request.user.is_superuser:
            return queryset
        return scope(request.user, queryset)

    return get_queryset


def scope_admin_site(site):
    """Limit every admin change list and form of an area-scoped model to the user's area.

    Superusers (the system administrator) see everything; any other staff account that
    an administrator lets into the admin sees only its area's rows.
    """
    for model, model_admin in site._registry.items():
        if is_scoped(model) and not getattr(model_admin, "_gridmap_scoped", False):
            model_admin.get_queryset = _scoped_get_queryset(model_admin.get_queryset)
            model_admin._gridmap_scoped = True
