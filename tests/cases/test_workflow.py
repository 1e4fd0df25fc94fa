"""The workflow: every state × every action, the audit trail, and concurrent dispatchers."""

import pytest

from cases import services
from cases.models import Callback, Case, CaseEvent, Status

pytestmark = pytest.mark.django_db

ACTIONS = list(services.ACTION_FUNCTIONS)
STATES = list(Status.values)


def kwargs_for(action, make_case):
    if action in ("refuse", "return"):
        return {"reason": "不属于本单位职责"}
    if action == "callback":
        return {"rating": Callback.Rating.SATISFIED, "note": "群众满意"}
    if action == "merge":
        return {"into": make_case(status=Status.ACCEPTED, category="help")}
    return {"note": "测试"}


@pytest.fixture
def checker(db):
    """A second person at the desk: the command centre's operator."""
    from accounts.models import User

    return User.objects.get(username="zhihui")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_every_action_in_every_state_moves_or_is_refused_clearly(
    make_case, clerk, checker, state, action
):
    case = make_case(status=state)
    events_before = CaseEvent.objects.filter(case=case).count()
    expected = services.TRANSITIONS[action].get(state)
    function = services.ACTION_FUNCTIONS[action]
    kwargs = kwargs_for(action, make_case)
    # The clerk registered the case: someone else verifies it (separation of duties).
    actor = checker if action == "verify" else clerk
    if expected is None:
        with pytest.raises(services.IllegalAction) as info:
            function(case=case, by=actor, **kwargs)
        message = info.value.message
        assert " / " in message and "不能" in message and "cannot" in message
        case.refresh_from_db()
        assert case.status == state
        assert CaseEvent.objects.filter(case=case).count() == events_before
        return
    version = case.version
    function(case=case, by=actor, **kwargs)
    case.refresh_from_db()
    assert case.status == expected
    assert case.version > version
    event = CaseEvent.objects.filter(case=case, action=action).latest("id")
    assert (event.from_status, event.to_status, event.actor) == (state, expected, actor)
    assert event.at is not None


def test_registering_writes_the_first_event_and_sets_the_areas(make_case, clerk):
    case = make_case()
    event = case.events.get()
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "register",
        "",
        "registered",
        clerk,
    )
    assert case.grid_id and case.community_id and case.street_id
    assert case.level == "grid"
    assert case.number.startswith("XS")


def test_refuse_and_return_need_a_reason(make_case, clerk):
    case = make_case()
    with pytest.raises(services.CaseError, match="理由"):
        services.case_refuse(case=case, by=clerk, reason="  ")
    services.case_refuse(case=case, by=clerk, reason="不属于受理范围")
    assert case.events.latest("id").note == "不属于受理范围"


def test_an_unsatisfied_callback_reopens_the_case(make_case, clerk):
    case = make_case(status=Status.VERIFIED)
    services.case_callback(case=case, by=clerk, rating="unsatisfied", note="工资仍未发放")
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS
    assert case.resolved_level == "" and case.resolved_at is None
    actions = list(case.events.values_list("action", "from_status", "to_status"))
    assert actions[-2:] == [
        ("callback", "verified", "called_back"),
        ("reopen", "called_back", "in_progress"),
    ]
    assert case.callbacks.get().rating == "unsatisfied"


def test_the_whole_way_records_resolved_level_and_closed_at(make_case, clerk, checker):
    case = make_case()
    services.case_accept(case=case, by=clerk, auto_dispatch=True)
    assert case.status == Status.DISPATCHED
    # The grid worker handles it, the command centre verifies, the clerk calls back and
    # closes: nobody checks his own work (separation of duties).
    worker = case.assignments.get(active=True, role="lead").worker.user
    assert worker is not None
    services.case_start(case=case, by=worker)
    services.case_resolve(case=case, by=worker, note="已调解")
    services.case_verify(case=case, by=checker)
    services.case_callback(case=case, by=clerk, rating="satisfied")
    services.case_close(case=case, by=clerk)
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.resolved_level == "grid" and case.closed_at and case.resolved_at
    assert [e.action for e in case.events.all()] == [
        "register",
        "accept",
        "dispatch",
        "start",
        "resolve",
        "verify",
        "callback",
        "close",
    ]


def test_of_two_dispatchers_exactly_one_wins(make_case, clerk):
    case = make_case(status=Status.ACCEPTED)
    first = Case.objects.get(pk=case.pk)
    second = Case.objects.get(pk=case.pk)
    services.case_dispatch(case=first, by=clerk)
    with pytest.raises(services.CaseChanged) as info:
        services.case_dispatch(case=second, by=clerk)
    assert "已被他人修改" in info.value.message and "changed" in info.value.message
    assert case.events.filter(action="dispatch").count() == 1
    assert case.assignments.filter(active=True, role="lead").count() == 1


def test_a_stale_version_is_refused_even_for_a_legal_action(make_case, clerk):
    case = make_case()
    with pytest.raises(services.CaseChanged):
        services.case_accept(case=case, by=clerk, version=case.version - 1 or 99)


def test_escalation_climbs_community_street_district_then_stops(make_case, clerk):
    case = make_case(status=Status.ACCEPTED)
    levels = []
    for _ in range(3):
        services.case_escalate(case=case, by=clerk)
        levels.append(case.level)
        assert case.assignments.filter(active=True, role="lead").count() == 1
    assert levels == ["community", "street", "district"]
    with pytest.raises(services.IllegalAction, match="区级"):
        services.case_escalate(case=case, by=clerk)
    assert case.events.filter(action="escalate").count() == 3


def test_a_dispatched_case_can_be_reassigned_by_hand(make_case, clerk):
    from cases.models import HandlerUnit

    case = make_case(status=Status.ACCEPTED)
    services.case_dispatch(case=case, by=clerk)
    labour = HandlerUnit.objects.get(department="labour")
    services.case_dispatch(case=case, by=clerk, handler=labour, note="转人社局")
    lead = case.assignments.get(active=True, role="lead")
    assert lead.unit == labour
    assert case.assignments.filter(active=False).exists()
