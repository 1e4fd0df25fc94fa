"""Reads of cases: visibility, routing rules, time limits, the calendar, duplicates.

And who may do what with a case: the workflow actions (user_may, with the separation of
duties) and the intake (intake_refusal: sources, person-visits, auto-dispatch by role).
"""

from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation

from accounts.models import Role
from accounts.scoping import is_system_admin, scope
from cases import sql
from cases.models import (
    OPEN_STATUSES,
    Assignment,
    Case,
    CaseEvent,
    HandlerKind,
    HandlerRole,
    RoutingRule,
    Source,
    Status,
    TimeUnit,
    Urgency,
    WorkCalendarDay,
)
from cases.workcalendar import WorkCalendar

DUPLICATE_RADIUS_M = 100
DUPLICATE_DAYS = 30


def cases_visible_to(user, queryset=None):
    """Return the cases the user may see.

    Area scoping (accounts.scoping.scope) decides it all: the area's cases, plus for a
    grid worker the cases actively assigned to him, and for a department handler only the
    cases actively assigned to his department. One rule for every page, API, export and
    reveal; a superseded assignment (reassigned, returned, escalated) shows nothing.
    """
    qs = Case.objects.all() if queryset is None else queryset
    if not (user.is_authenticated and user.is_active):
        return qs.none()
    # The filter on the rows themselves, not "id IN (the visible ids)": for a
    # whole-district role that is no filter at all instead of a semi-join of the table
    # with itself (the wall map's KPIs: 1.7 s on 500,000 cases).
    return scope(user, qs)


def assigned_to(user, queryset=None):
    """Return the cases with an active assignment to the user (as worker or unit member)."""
    qs = Case.objects.all() if queryset is None else queryset
    return qs.filter(pk__in=assignments_of(user).values("case_id"))


def assignments_of(user):
    """Return the active assignments the user answers for."""
    q = Q(worker__user=user)
    if user.role == Role.DEPARTMENT and user.department:
        q |= Q(unit__kind=HandlerKind.DEPARTMENT, unit__department=user.department)
    elif user.role == Role.COMMUNITY and user.community_id:
        q |= Q(unit__kind=HandlerKind.COMMUNITY_MEDIATION, unit__community_id=user.community_id)
    elif user.role == Role.STREET and user.street_id:
        q |= Q(unit__kind=HandlerKind.STREET_CENTRE, unit__street_id=user.street_id)
    return Assignment.objects.filter(q, active=True)


def handler_users(assignment):
    """Return the users who answer for an assignment (who get its reminders)."""
    from accounts.models import User

    active = User.objects.filter(is_active=True)
    if assignment.worker_id:
        user_id = assignment.worker.user_id
        return active.filter(pk=user_id) if user_id else active.none()
    unit = assignment.unit
    if unit.kind == HandlerKind.DEPARTMENT:
        return active.filter(role=Role.DEPARTMENT, department=unit.department)
    if unit.kind == HandlerKind.COMMUNITY_MEDIATION:
        return active.filter(role=Role.COMMUNITY, community_id=unit.community_id)
    if unit.kind == HandlerKind.STREET_CENTRE:
        return active.filter(role=Role.STREET, street_id=unit.street_id)
    return active.none()


def lead_assignment(case):
    return (
        case.assignments.filter(active=True, role=HandlerRole.LEAD)
        .select_related("worker", "unit", "unit__community", "unit__street")
        .first()
    )


def handler_unit_name(case, assignment=None):
    """Return the name of the unit a reminder letter is addressed to."""
    assignment = assignment or lead_assignment(case)
    if assignment is None:
        if case.community_id:
            return f"{case.community.name}工作站"
        if case.street_id:
            return f"{case.street.name}综治中心"
        return "区网格化服务管理中心"
    if assignment.worker_id:
        # A grid worker answers to his community's work station.
        community = case.community or (case.grid.community if case.grid_id else None)
        return f"{community.name}工作站" if community else assignment.worker.name
    return assignment.unit.name


def matching_rules(case, level):
    """Return the active routing rules for the case at a level, most specific first."""
    rules = RoutingRule.objects.filter(active=True, level=level).filter(
        Q(category__isnull=True) | Q(category_id=case.category_id),
        Q(street__isnull=True) | Q(street_id=case.street_id),
        Q(community__isnull=True) | Q(community_id=case.community_id),
    )
    rules = list(rules.select_related("unit"))

    def specificity(rule):
        return (
            (rule.community_id is not None) * 4
            + (rule.street_id is not None) * 2
            + (rule.category_id is not None)
        )

    return sorted(rules, key=lambda r: (-specificity(r), r.pk))


def time_limit(category, urgency):
    """Return the time limit (amount, unit) of a category for an urgency."""
    found = sql.time_limit(category.pk, urgency)
    if found is None and urgency != Urgency.NORMAL:
        found = sql.time_limit(category.pk, Urgency.NORMAL)
    if found is None:
        return SimpleNamespace(amount=category.limit_working_days, unit=TimeUnit.WORKING_DAYS)
    return SimpleNamespace(amount=found[0], unit=found[1])


def active_category(code):
    """Return the active category with this code, or None."""
    return sql.active_category(code)


def work_calendar():
    """Return the WorkCalendar built from the working-day table (editable in admin)."""
    holidays, makeups = [], []
    for day, kind in sql.calendar_days():
        (holidays if kind == WorkCalendarDay.Kind.HOLIDAY else makeups).append(day)
    return WorkCalendar(holidays, makeups)


def duplicates(*, category, location, user, exclude=None, now=None):
    """Return open cases of the category within 100 m reported in the last 30 days.

    Each case carries `distance_m`. Uses the GiST index cases_case_location_geog.
    """
    now = now or timezone.now()
    rows = sql.nearby_open_cases(
        category_id=category.pk,
        lon=location.x,
        lat=location.y,
        radius_m=DUPLICATE_RADIUS_M,
        since=now - timedelta(days=DUPLICATE_DAYS),
        statuses=list(OPEN_STATUSES),
        exclude_id=exclude.pk if exclude is not None else None,
    )
    distance = dict(rows)
    found = (
        cases_visible_to(user)
        .filter(pk__in=list(distance))
        .select_related("category", "grid", "community")
    )
    result = sorted(found, key=lambda c: distance[c.pk])
    for case in result:
        case.distance_m = round(distance[case.pk])
    return result


def petition_counts(queryset=None):
    """Return petitions counted by matter (件) and by person-visit (人次).

    Merged reports add their person-visits to the original, so the matters are the
    unmerged cases and the person-visits their sum.
    """
    from django.db.models import Sum

    qs = Case.objects.all() if queryset is None else queryset
    qs = qs.filter(source="petition").exclude(status="merged")
    agg = qs.aggregate(visits=Sum("visitors"))
    return {"matters": qs.count(), "visits": agg["visits"] or 0}


USER_ACTIONS = {
    # Desk roles run the whole workflow for the cases of their area.
    Role.DISTRICT: None,
    Role.STREET: None,
    Role.COMMUNITY: None,
    Role.INTAKE: None,
    Role.ADMIN: None,
    # Handlers act on what is assigned to them.
    Role.GRID_WORKER: {"start", "resolve", "return", "note"},
    Role.DEPARTMENT: {"start", "resolve", "return", "note"},
    Role.ANALYST: set(),
}


@dataclass(frozen=True)
class Refusal:
    """Why a user may not do something: 403 (he may not) or 400 (the value makes no sense)."""

    status: int
    code: str
    message: str  # "中文 / English"
    field: str = ""


NOT_YOURS = Refusal(
    403, "not_allowed", "您无权对此案件执行该操作 / you may not take this action on this case"
)


def user_may(user, action, case):
    """Return True when the user may take the action on a visible case."""
    return action_refusal(user, action, case) is None


def action_refusal(user, action, case):
    """Return why the user may not take the action on a visible case (a Refusal), or None.

    The separation of duties first (duty_conflict: it binds the system administrator
    too), then his role (handlers act only on what is actively assigned to them).
    """
    if not (user.is_authenticated and user.is_active):
        return NOT_YOURS
    conflict = duty_conflict(user, action, case)
    if conflict is not None:
        return conflict
    if user.is_superuser:
        return None
    if action == "merge" and case.status == Status.REGISTERED and case.created_by_id == user.pk:
        # The intake's duplicate step: whoever registers a report may link it at once to
        # the original case it repeats (a grid worker too).
        return None
    allowed = USER_ACTIONS.get(user.role, set())
    if allowed is None:
        return None
    if action not in allowed:
        return NOT_YOURS
    return None if assignments_of(user).filter(case=case).exists() else NOT_YOURS


# --- separation of duties (办结与核查分离) ----------------------------------------------------

# Actions that check the work of whoever resolved the case, and of the registering clerk.
CHECKS_OF_RESOLVER = frozenset({"verify", "callback", "close"})
CHECKS_OF_REGISTRAR = frozenset({"verify"})
RESOLVER_CONFLICT = Refusal(
    403,
    "separation_of_duties",
    "办结人及其承办单位不能核查、回访或结案本案，请由其他人员办理 / whoever resolved the "
    "case, and his handling unit, may not verify it, call it back or close it: someone "
    "else must",
)
REGISTRAR_CONFLICT = Refusal(
    403,
    "separation_of_duties",
    "登记人不能核查自己登记的案件，请由其他人员核查 / whoever registered the case may not "
    "verify it: someone else must",
)


def separation_of_duties():
    """Return True when the deployment separates duties (CASES_SEPARATION_OF_DUTIES)."""
    return bool(getattr(settings, "CASES_SEPARATION_OF_DUTIES", True))


def duty_conflict(user, action, case):
    """Return the Refusal when the action would let one person check his own work, or None.

    One person must not manufacture a closure, an on-time rate or a satisfaction figure:
    the user who resolved the case, or who answers for its lead handler (the grid worker
    himself, a member of the department, community or street unit), may not verify it,
    call it back or close it; the clerk who registered it may not verify it.
    """
    if not separation_of_duties():
        return None
    if action in CHECKS_OF_REGISTRAR and case.created_by_id == user.pk:
        return REGISTRAR_CONFLICT
    if action in CHECKS_OF_RESOLVER:
        if resolved_by(case) == user.pk:
            return RESOLVER_CONFLICT
        if assignments_of(user).filter(case=case, role=HandlerRole.LEAD).exists():
            return RESOLVER_CONFLICT
    return None


def resolved_by(case):
    """Return the id of the user who last resolved the case (None if nobody did)."""
    return (
        CaseEvent.objects.filter(case=case, action="resolve")
        .order_by("-at", "-id")
        .values_list("actor_id", flat=True)
        .first()
    )


# --- who may register what (一窗受理) ------------------------------------------------------

# What reaches a desk (the one window of a district, street or community centre, and the
# command centre): 110 diversions, petition visits and letters, disputes brought in,
# 12345 hotline tickets and reports from the self-service kiosks.
DESK_SOURCES = (
    Source.POLICE_110,
    Source.PETITION,
    Source.DISPUTE,
    Source.HOTLINE_12345,
    Source.SELF_SERVICE,
)
# The sources each role may register. A grid worker reports what he finds on patrol;
# a 110 call or a petition never reaches him first, and counting his reports as such
# would skew the pilot's figures. Departments and analysts register nothing.
INTAKE_SOURCES = {
    Role.INTAKE: DESK_SOURCES,
    Role.DISTRICT: DESK_SOURCES,
    Role.STREET: DESK_SOURCES,
    Role.COMMUNITY: DESK_SOURCES,
    Role.ADMIN: DESK_SOURCES,
    Role.GRID_WORKER: (Source.PATROL,),
}
# Person-visits (人次) are counted for petition visits only; every other report is one.
MULTI_VISITOR_SOURCES = (Source.PETITION,)


def max_visitors():
    """Return the most person-visits one petition may record (CASES_MAX_VISITORS)."""
    return int(getattr(settings, "CASES_MAX_VISITORS", 100))


def intake_sources(user):
    """Return the sources the user may register cases from (none: he may not register)."""
    if not (user.is_authenticated and user.is_active):
        return ()
    if is_system_admin(user):
        return INTAKE_SOURCES[Role.ADMIN]
    return INTAKE_SOURCES.get(user.role, ())


def may_register(user):
    return bool(intake_sources(user))


def may_auto_dispatch(user):
    """Return True when the user may accept and dispatch a case he registers (受理并派遣)."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    allowed = USER_ACTIONS.get(user.role, set())
    return allowed is None or {"accept", "dispatch"} <= allowed


def _both(label):
    """Return a translatable label in Chinese and in English: (zh, en)."""
    with translation.override("zh-hans"):
        zh = str(label)
    with translation.override("en"):
        en = str(label)
    return zh, en


def intake_refusal(user, *, source, visitors=1, auto_dispatch=False):
    """Return why the user may not register this intake (a Refusal), or None.

    The one rule of the intake page, the case API, Open311 and case_register: who may
    register at all, from which source, how many person-visits, and whether he may
    accept and dispatch it at once.
    """
    allowed = intake_sources(user)
    if not allowed:
        return Refusal(
            403, "not_allowed", "您的角色不能登记案件 / your role may not register cases"
        )
    if source not in allowed:
        zh, en = _both(Source(source).label) if source in Source.values else (source, source)
        yours_zh = "、".join(f"{_both(Source(s).label)[0]}（{s}）" for s in allowed)
        return Refusal(
            403,
            "source_not_allowed",
            f"您的角色不能登记来源为“{zh}”的案件，可登记：{yours_zh} / your role may not "
            f"register cases from the source {source} ({en}); yours: {', '.join(allowed)}",
            "source",
        )
    limit = max_visitors()
    if visitors is None or visitors < 1 or visitors > limit:
        return Refusal(
            400,
            "visitors",
            f"来访人次应在 1 到 {limit} 之间 / person-visits must be between 1 and {limit}",
            "visitors",
        )
    if visitors > 1 and source not in MULTI_VISITOR_SOURCES:
        return Refusal(
            400,
            "visitors",
            "只有信访来访才按人次登记多人，其他来源记 1 人次 / only petition visits count more "
            "than one person-visit; other sources count one",
            "visitors",
        )
    if auto_dispatch and not may_auto_dispatch(user):
        return Refusal(
            403,
            "auto_dispatch_not_allowed",
            "您的角色不能受理和派遣案件，案件登记后由指挥中心或受理窗口派遣 / your role may not "
            "accept and dispatch cases: the command centre or an intake desk dispatches them",
            "auto_dispatch",
        )
    return None


def actions_for(user, case):
    """Return the actions the user may take on the case now."""
    from cases.services import allowed_actions

    return [a for a in allowed_actions(case.status) if user_may(user, a, case)]


def notifications_for(user, unread_only=False):
    """Return the user's in-app reminders about cases he may still see (or no case)."""
    visible = cases_visible_to(user).values("pk")
    qs = user.notifications.filter(Q(case__isnull=True) | Q(case__in=visible))
    qs = qs.select_related("case")
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs
