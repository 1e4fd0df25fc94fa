"""The periodic time-limit job: 75 % reminders, reminder letters, escalation.

Run by ``manage.py run_jobs`` (a loop; ``--once`` for one pass), which ``make run`` starts.
Every step claims its (case, kind, deadline) row in cases_reminder with INSERT … ON
CONFLICT DO NOTHING inside the transaction that does the step, and takes the case with
SELECT … FOR UPDATE SKIP LOCKED: running the job twice, or on two machines at once,
sends nothing twice and never waits on a case another run is working on.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Role, User
from cases import selectors, services, sql
from cases.models import Case, Level, Notification, Reminder

log = logging.getLogger(__name__)

# Working days after the deadline before an unresolved case escalates one level.
GRACE_WORKING_DAYS = getattr(settings, "CASES_ESCALATION_GRACE_DAYS", 2)
REMIND_AT = 0.75


@dataclass
class Outcome:
    due_soon: int = 0
    letters: int = 0
    escalated: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self):
        return {
            "due_soon": self.due_soon,
            "letters": self.letters,
            "escalated": self.escalated,
            "errors": len(self.errors),
        }


def _reminded(kind):
    return Exists(Reminder.objects.filter(case=OuterRef("pk"), kind=kind, deadline=OuterRef("due")))


def candidates(queryset=None):
    """Return running cases with their stage start and due moment, minus settled ones."""
    qs = Case.objects.all() if queryset is None else queryset
    return (
        qs.filter(status__in=services.RUNNING_STATUSES)
        .annotate(
            due=Coalesce("stage_deadline", "deadline"),
            start=Coalesce("stage_started_at", "reported_at"),
            has_due_soon=_reminded(Reminder.Kind.DUE_SOON),
            has_letter=_reminded(Reminder.Kind.LETTER),
            has_escalation=_reminded(Reminder.Kind.ESCALATION),
        )
        .filter(due__isnull=False)
        .exclude(has_letter=True, has_escalation=True)
        .values("pk", "due", "start", "status", "level", "has_due_soon", "has_letter")
    )


def run_time_limits(*, now=None, queryset=None):
    """Do every reminder, letter and escalation that is due now; return what was done."""
    now = now or timezone.now()
    calendar = selectors.work_calendar()
    outcome = Outcome()
    for row in candidates(queryset).iterator(chunk_size=500):
        due, start = row["due"], row["start"]
        try:
            if now < due:
                if row["has_due_soon"] or start > now:
                    continue
                if calendar.elapsed_fraction(min(start, due), due, now) >= REMIND_AT:
                    outcome.due_soon += _remind(row["pk"], due, now)
                continue
            if not row["has_letter"]:
                outcome.letters += _letter(row["pk"], due, now)
            can_escalate = (
                row["status"] in services.TRANSITIONS["escalate"] and row["level"] != Level.DISTRICT
            )
            if can_escalate and now >= calendar.add_working_days(due, GRACE_WORKING_DAYS):
                outcome.escalated += _escalate(row["pk"], due, now)
        except Exception as exc:  # noqa: BLE001 (one bad case must not stop the others)
            log.exception("time-limit job failed on case %s", row["pk"])
            outcome.errors.append((row["pk"], str(exc)))
    return outcome


def _take(case_id):
    """Return the running case locked for this run, or None if another run holds it."""
    return (
        Case.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk=case_id, status__in=services.RUNNING_STATUSES)
        .select_related("category", "community", "street", "grid")
        .first()
    )


def recipients(case):
    """Return the users to remind about a case: its lead handler's, or its area centre's."""
    lead = selectors.lead_assignment(case)
    if lead is not None:
        users = selectors.handler_users(lead)
        if users.exists():
            return list(users)
    active = User.objects.filter(is_active=True)
    if case.community_id:
        users = active.filter(role=Role.COMMUNITY, community_id=case.community_id)
        if users.exists():
            return list(users)
    if case.street_id:
        users = active.filter(role=Role.STREET, street_id=case.street_id)
        if users.exists():
            return list(users)
    return list(active.filter(role=Role.DISTRICT))


def _notify(users, case, reminder_id, message, now):
    Notification.objects.bulk_create(
        [
            Notification(
                user=u, case=case, reminder_id=reminder_id, message=message, created_at=now
            )
            for u in users
        ],
        ignore_conflicts=True,
    )


def _local(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _remind(case_id, due, now):
    with transaction.atomic():
        case = _take(case_id)
        if case is None:
            return 0
        rid = sql.claim_reminder(
            case_id=case.pk, kind=Reminder.Kind.DUE_SOON, deadline=due, now=now
        )
        if rid is None:
            return 0
        message = (
            f"案件 {case.number}（{case.category.name}）已用去办理时限的75%，"
            f"请于 {_local(due)} 前办结。"
        )
        _notify(recipients(case), case, rid, message, now)
        return 1


def _letter(case_id, due, now):
    with transaction.atomic():
        case = _take(case_id)
        if case is None:
            return 0
        unit = selectors.handler_unit_name(case)
        rid = sql.claim_reminder(
            case_id=case.pk, kind=Reminder.Kind.LETTER, deadline=due, now=now, unit_name=unit
        )
        if rid is None:
            return 0
        number = f"西综督〔{timezone.localtime(now).year}〕{rid}号"
        Reminder.objects.filter(pk=rid).update(number=number)
        message = (
            f"案件 {case.number}（{case.category.name}）已超过办理时限（{_local(due)}），"
            f"已向{unit}发出提醒函 {number}。"
        )
        _notify(recipients(case), case, rid, message, now)
        return 1


def _escalate(case_id, due, now):
    with transaction.atomic():
        case = _take(case_id)
        if case is None:
            return 0
        rid = sql.claim_reminder(
            case_id=case.pk, kind=Reminder.Kind.ESCALATION, deadline=due, now=now
        )
        if rid is None:
            return 0
        old = services.LEVEL_NAMES[case.level]
        services.case_escalate(
            case=case,
            by=None,
            version=case.version,
            now=now,
            note=f"超过办理时限（{_local(due)}）{GRACE_WORKING_DAYS}个工作日仍未办结，自动上报",
        )
        message = (
            f"案件 {case.number}（{case.category.name}）超期未办结，已由{old}级上报至"
            f"{services.LEVEL_NAMES[case.level]}级，请及时处置。"
        )
        _notify(recipients(case), case, rid, message, now)
        return 1


def run_once(now=None):
    """Run every periodic job once; return a summary."""
    return {"time_limits": run_time_limits(now=now).as_dict()}
