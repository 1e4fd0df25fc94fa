"""Routing rules, auto-dispatch to the least-loaded worker, visibility, consultations."""

import pytest

from cases import selectors, services
from cases.models import (
    OPEN_STATUSES,
    Assignment,
    Category,
    HandlerUnit,
    RoutingRule,
    Status,
)

pytestmark = pytest.mark.django_db


def test_grid_level_goes_to_the_grids_worker_with_fewest_open_cases(make_case, clerk, wangge_grid):
    from layers.models import GridWorker

    workers = list(GridWorker.objects.filter(grids=wangge_grid))
    if len(workers) < 2:
        workers.append(GridWorker.objects.create(name="第二网格员"))
        workers[-1].grids.add(wangge_grid)
    busy = services.least_loaded_worker(wangge_grid.pk)
    other = next(w for w in workers if w != busy)

    def open_load(worker):
        return Assignment.objects.filter(
            worker=worker, active=True, case__status__in=OPEN_STATUSES
        ).count()

    # The demo's worker already holds open cases of his grids: load `busy` past him.
    for _ in range(open_load(other) - open_load(busy) + 1):
        c = make_case(status=Status.ACCEPTED)
        services.case_dispatch(case=c, by=clerk, handler=busy)
    assert open_load(busy) > open_load(other)
    case = make_case(status=Status.ACCEPTED)
    services.case_dispatch(case=case, by=clerk)
    lead = case.assignments.get(active=True, role="lead")
    assert lead.worker == other


def test_rules_by_category_level_and_area_pick_lead_and_assisting(make_case, clerk):
    case = make_case(status=Status.ACCEPTED, category="wage")
    services.case_escalate(case=case, by=clerk)  # community level
    active = {(a.role, a.handler_name) for a in case.assignments.filter(active=True)}
    assert ("lead", "船房社区人民调解委员会") in active
    assert ("assist", "区人力资源和社会保障局") in active


def test_a_more_specific_rule_wins(make_case, clerk):
    case = make_case(status=Status.ACCEPTED, category="neighbour")
    market = HandlerUnit.objects.get(department="market")
    RoutingRule.objects.create(
        level="grid",
        category=Category.objects.get(code="neighbour"),
        community=case.community,
        handler_kind="department",
        unit=market,
    )
    services.case_dispatch(case=case, by=clerk)
    assert case.assignments.get(active=True, role="lead").unit == market


def test_district_level_goes_to_the_department_of_the_category(make_case, clerk):
    case = make_case(status=Status.ACCEPTED, category="trade")
    for _ in range(3):
        services.case_escalate(case=case, by=clerk)
    assert case.assignments.get(active=True, role="lead").unit.department == "market"


def test_department_handlers_see_the_cases_dispatched_to_their_department(make_case, clerk):
    from accounts.models import User

    renshe = User.objects.get(username="renshe")
    case = make_case(status=Status.ACCEPTED, category="noise")
    assert not selectors.cases_visible_to(renshe).filter(pk=case.pk).exists()
    services.case_dispatch(
        case=case, by=clerk, handler=HandlerUnit.objects.get(department="labour")
    )
    assert selectors.cases_visible_to(renshe).filter(pk=case.pk).exists()
    assert selectors.actions_for(renshe, case) == ["start", "return"]


def test_outside_users_do_not_see_a_case(make_case):
    from accounts.models import User

    case = make_case()
    majie = User.objects.get(username="majie")  # another street
    assert not selectors.cases_visible_to(majie).filter(pk=case.pk).exists()
    chuanfang = User.objects.get(username="chuanfang")
    assert selectors.cases_visible_to(chuanfang).filter(pk=case.pk).exists()


def test_a_difficult_dispute_goes_to_the_legal_expert_team(make_case, clerk):
    from cases.models import LegalExpert

    case = make_case(status=Status.DISPATCHED, category="land")
    with pytest.raises(services.CaseError, match="疑难"):
        services.consultation_convene(case=case, by=clerk, experts=LegalExpert.objects.all())
    services.case_flag_difficult(case=case, by=clerk, note="涉及多方土地权属")
    consultation = services.consultation_convene(
        case=case, by=clerk, experts=LegalExpert.objects.all()
    )
    assert set(consultation.experts.values_list("kind", flat=True)) == {
        "lawyer",
        "adviser",
        "judge",
        "prosecutor",
    }
    services.consultation_record_opinion(
        consultation=consultation, by=clerk, opinion="建议依法申请确权后调解"
    )
    case.refresh_from_db()
    assert case.difficult
    assert list(case.events.values_list("action", flat=True))[-3:] == [
        "flag_difficult",
        "consult",
        "opinion",
    ]


def test_difficult_dispute_pages(client, login, make_case):
    from cases.models import LegalExpert

    case = make_case(status=Status.DISPATCHED)
    login("chuanfang")
    client.post(f"/cases/{case.pk}/difficult/")
    experts = list(LegalExpert.objects.values_list("pk", flat=True))
    client.post(f"/cases/{case.pk}/consult/", {"experts": experts, "note": "会商"})
    consultation = case.consultations.get()
    client.post(f"/cases/consultations/{consultation.pk}/opinion/", {"opinion": "意见一"})
    consultation.refresh_from_db()
    assert consultation.opinion == "意见一"
    assert "意见一" in client.get(f"/cases/{case.pk}/").content.decode()


def test_petitions_count_matters_and_person_visits(make_case, clerk):
    base = selectors.petition_counts()
    first = make_case(status=Status.ACCEPTED, source="petition", visitors=3)
    later = make_case(source="petition", visitors=2)
    services.case_merge(case=later, into=first, by=clerk)
    counts = selectors.petition_counts()
    assert counts["matters"] == base["matters"] + 1
    assert counts["visits"] == base["visits"] + 5


def test_only_one_active_lead_per_case_is_enforced_by_the_database(make_case):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    case = make_case(status=Status.DISPATCHED)
    unit = HandlerUnit.objects.get(department="labour")
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            case=case, role="lead", level="grid", unit=unit, at=timezone.now()
        )
