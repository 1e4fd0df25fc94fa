"""Deadlines on the working-day table, and the periodic job: reminders, letters, escalation."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from cases import jobs, selectors, services
from cases.models import (
    Case,
    Category,
    Notification,
    Reminder,
    Status,
    TimeLimit,
    WorkCalendarDay,
)

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args):
    return datetime(*args, tzinfo=SH)


def test_the_calendar_table_is_seeded_for_2026_and_2027():
    days = WorkCalendarDay.objects
    assert days.filter(day__year=2026, kind="holiday").count() == 33
    assert days.filter(day=date(2026, 10, 10), kind="makeup").exists()
    assert days.filter(day__year=2027).exists()
    assert (
        days.filter(day__year=2027, provisional=True).count() == days.filter(day__year=2027).count()
    )


def test_a_deadline_across_national_day_2026_counts_the_make_up_saturday(make_case):
    # Wed 30 Sep + 3 working days: 1-7 Oct off, Thu 8, Fri 9, and Sat 10 Oct (调休上班).
    case = make_case(category="help", reported_at=at(2026, 9, 30, 10, 0))
    assert case.deadline.astimezone(SH).date() == date(2026, 10, 10)
    # Mid-Autumn: Fri 18 Sep + 2 working days is Sun 20 Sep (make-up day), Mon 21 Sep.
    case = make_case(category="hazard", reported_at=at(2026, 9, 18, 15, 0))
    assert case.deadline.astimezone(SH).date() == date(2026, 9, 21)


def test_a_deadline_follows_the_table_as_edited_in_admin(make_case):
    WorkCalendarDay.objects.create(day=date(2026, 10, 9), kind="holiday", festival="测试")
    case = make_case(category="help", reported_at=at(2026, 9, 30, 10, 0))
    # Fri 9 Oct is now off: Thu 8, Sat 10 (make-up), Mon 12.
    assert case.deadline.astimezone(SH).date() == date(2026, 10, 12)


def test_urgency_can_limit_in_office_hours(make_case):
    wage = Category.objects.get(code="wage")
    assert TimeLimit.objects.get(category=wage, urgency="critical").unit == "working_hours"
    # 4 office hours from Wed 30 Sep 16:00: 2 h that day, then 2 h from Thu 8 Oct 08:30.
    case = make_case(urgency="critical", reported_at=at(2026, 9, 30, 16, 0))
    assert case.deadline.astimezone(SH) == at(2026, 10, 8, 10, 30)


@pytest.fixture
def running(make_case, clerk):
    """A dispatched case at the grid worker, 3 working days (help), from Mon 2 Nov 2026."""
    case = make_case(category="help", reported_at=at(2026, 11, 2, 9, 0))
    services.case_accept(case=case, by=clerk, auto_dispatch=True)
    assert case.deadline.astimezone(SH) == at(2026, 11, 5, 23, 59, 59, 999999)
    return case


def only(case):
    return Case.objects.filter(pk=case.pk)


def test_at_75_percent_the_handler_gets_one_in_app_reminder(running):
    worker_user = running.assignments.get(active=True).worker.user
    early = jobs.run_time_limits(now=at(2026, 11, 3, 12, 0), queryset=only(running))
    assert early.due_soon == 0
    late = jobs.run_time_limits(now=at(2026, 11, 5, 12, 0), queryset=only(running))
    assert late.due_soon == 1
    again = jobs.run_time_limits(now=at(2026, 11, 5, 13, 0), queryset=only(running))
    assert again.due_soon == 0
    note = Notification.objects.get(user=worker_user, case=running)
    assert "75%" in note.message


def test_at_the_limit_a_reminder_letter_is_issued_once_and_prints(running, client, login):
    outcome = jobs.run_time_limits(now=at(2026, 11, 6, 9, 0), queryset=only(running))
    assert (outcome.letters, outcome.escalated) == (1, 0)
    jobs.run_time_limits(now=at(2026, 11, 6, 10, 0), queryset=only(running))
    letter = Reminder.objects.get(case=running, kind="letter")
    assert letter.unit_name == "船房社区工作站"
    assert letter.number.startswith("西综督〔2026〕")
    login("chuanfang")
    response = client.get(f"/cases/letters/{letter.pk}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF") and b"FontFile2" in pdf  # the CJK font is embedded
    login("renshe")
    assert client.get(f"/cases/letters/{letter.pk}.pdf").status_code == 404


def test_after_the_grace_period_the_case_escalates_once(running):
    # Deadline Thu 5 Nov; 2 working days' grace runs to the end of Mon 9 Nov.
    not_yet = jobs.run_time_limits(now=at(2026, 11, 9, 17, 0), queryset=only(running))
    assert not_yet.escalated == 0
    outcome = jobs.run_time_limits(now=at(2026, 11, 10, 9, 0), queryset=only(running))
    assert outcome.escalated == 1
    running.refresh_from_db()
    assert running.level == "community" and running.status == Status.DISPATCHED
    assert running.stage_deadline > at(2026, 11, 10, 9, 0)
    assert running.deadline.astimezone(SH).date() == date(2026, 11, 5)  # kept for the KPIs
    event = running.events.get(action="escalate")
    assert event.actor is None and "自动上报" in event.note
    assert running.assignments.get(active=True, role="lead").unit.kind == "community_mediation"
    again = jobs.run_time_limits(now=at(2026, 11, 10, 9, 5), queryset=only(running))
    assert again.as_dict() == {"due_soon": 0, "letters": 0, "escalated": 0, "errors": 0}
    assert running.events.filter(action="escalate").count() == 1


def test_the_level_that_resolves_is_recorded_after_escalation(running, clerk):
    jobs.run_time_limits(now=at(2026, 11, 10, 9, 0), queryset=only(running))
    running.refresh_from_db()
    services.case_start(case=running, by=clerk)
    services.case_resolve(case=running, by=clerk)
    assert running.resolved_level == "community"


def test_a_claimed_step_is_never_sent_twice(running):
    from cases import sql

    due = running.deadline
    first = sql.claim_reminder(case_id=running.pk, kind="letter", deadline=due, now=due)
    second = sql.claim_reminder(case_id=running.pk, kind="letter", deadline=due, now=due)
    assert first is not None and second is None


def test_run_jobs_once_runs_a_pass(capsys, monkeypatch):
    seen = {}

    def fake_run_once(now=None):
        seen["ran"] = True
        return {"time_limits": {"due_soon": 0, "letters": 0, "escalated": 0, "errors": 0}}

    monkeypatch.setattr(jobs, "run_once", fake_run_once)
    call_command("run_jobs", "--once")
    assert seen["ran"] and "gridmap jobs" in capsys.readouterr().out


def test_the_demo_history_survives_a_job_pass_without_errors():
    qs = Case.objects.filter(source="police_110")
    outcome = jobs.run_time_limits(queryset=qs)
    assert outcome.errors == []
    assert qs.count() == 56 and qs.filter(status="closed").count() == 22


def test_the_calendar_is_built_from_the_table():
    calendar = selectors.work_calendar()
    assert calendar.is_working_day(date(2026, 10, 10))
    assert not calendar.is_working_day(date(2026, 10, 8) - timedelta(days=1))
