"""KPIs: the demo's pilot figures, every rate on a hand-built set, filters, scoping, export."""

import itertools
from datetime import datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from cases.kpis import kpi_breakdown, kpi_totals, parse_query, totals_of_rows
from cases.models import Callback, Case, CaseEvent, Category, Level, Source, Status
from layers.models import Street
from tests.factories import make_community, make_grid, make_street, point, square

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
API = "/api/v1/kpis/"
_seq = itertools.count(1)


def shanghai(*args):
    return datetime(*args, tzinfo=SH)


def make_case(category, status, *, reported_at=None, location=None, **fields):
    """Create a case directly in a given state (the workflow is tested elsewhere)."""
    fields.setdefault("source", Source.DISPUTE)
    fields.setdefault("level", Level.COMMUNITY)
    return Case.objects.create(
        number=f"KPI{next(_seq):012d}",
        category=category,
        status=status,
        description="测试案件",
        reported_at=reported_at or shanghai(2026, 3, 10, 9, 0),
        location=location or point(103.0005, 24.0005),
        **fields,
    )


def event(case, action, at=None):
    CaseEvent.objects.create(
        case=case, action=action, to_status=case.status, at=at or timezone.now()
    )


def callback(case, rating):
    Callback.objects.create(case=case, rating=rating, at=timezone.now())


@pytest.fixture
def area(db):
    """A test street › community › grid, away from the demo district's real ones."""
    street = make_street()
    community = make_community(street)
    grid = make_grid(community)
    return {"street": street, "community": community, "grid": grid}


@pytest.fixture
def probe(area):
    return Category.objects.create(code="kpi-probe", name="指标测试", limit_working_days=5)


@pytest.fixture
def hand_set(area, probe):
    """Eight cases with known answers (see test_every_rate_on_a_hand_built_set)."""
    past = shanghai(2026, 3, 17, 18, 0)
    R = Callback.Rating
    c1 = make_case(
        probe,
        Status.CLOSED,
        deadline=past,
        resolved_at=shanghai(2026, 3, 12),
        closed_at=shanghai(2026, 3, 14),
        resolved_level=Level.COMMUNITY,
    )
    callback(c1, R.SATISFIED)
    c2 = make_case(
        probe,
        Status.CLOSED,
        deadline=past,
        resolved_at=shanghai(2026, 3, 18),
        closed_at=shanghai(2026, 3, 20),  # late
        resolved_level=Level.STREET,
    )
    callback(c2, R.BASICALLY)
    c3 = make_case(
        probe,
        Status.CLOSED,
        deadline=past,
        resolved_at=shanghai(2026, 3, 15),
        closed_at=shanghai(2026, 3, 16),
        resolved_level=Level.GRID,
    )
    callback(c3, R.UNSATISFIED)
    event(c3, "reopen")
    event(c3, "reopen")  # reopened twice: still one reworked case
    callback(c3, R.SATISFIED)
    c4 = make_case(probe, Status.IN_PROGRESS, deadline=past)  # reopened, in hand again
    callback(c4, R.UNSATISFIED)
    event(c4, "reopen")
    c5 = make_case(probe, Status.DISPATCHED, deadline=timezone.now() + timedelta(days=10))
    event(c5, "escalate")
    event(c5, "escalate")  # community → street → district: one escalated case
    make_case(
        probe,
        Status.RESOLVED,
        deadline=past,
        resolved_at=shanghai(2026, 3, 16),
        resolved_level=Level.DISTRICT,
    )
    merged = make_case(probe, Status.MERGED, merged_into=c1, deadline=past)
    callback(merged, R.UNSATISFIED)  # never counted: merged reports are not intake
    make_case(probe, Status.REGISTERED, source=Source.PETITION, visitors=3)
    return probe


def get_api(client, **params):
    return client.get(API, params)


# The demo district -----------------------------------------------------------------------


def test_demo_police_110_gives_the_pilot_figures(client, login):
    login("zhihui")
    response = get_api(client, source="police_110")
    assert response.status_code == 200
    data = response.json()
    assert data["intake"] == 56
    assert data["closed"] == 22
    assert data["satisfaction_rate"] == 0.89
    assert (data["callbacks_satisfied"], data["callbacks"]) == (24, 27)
    assert data["closure_rate"] == round(22 / 56, 2)
    assert data["reworked"] == 3  # the three unsatisfied callbacks were reopened


def test_demo_police_110_covers_the_16_categories(client, login):
    login("zhihui")
    rows = get_api(client, source="police_110", by="category").json()["rows"]
    assert len(rows) == 16
    assert sum(r["intake"] for r in rows) == 56
    assert rows[0]["label"] == "劳资纠纷" and rows[0]["intake"] == 9


def test_demo_answer_has_every_documented_field(client, login):
    login("zhihui")
    data = get_api(client).json()
    for key in (
        "intake",
        "closed",
        "closure_rate",
        "on_time_rate",
        "satisfaction_rate",
        "rework_rate",
        "escalation_rate",
        "community_level_rate",
        "street_level_rate",
    ):
        assert key in data, key
        assert key in data["definitions"] or key in ("intake", "closed")
    assert data["definitions"]["closure_rate"]["zh"].startswith("结案率")


# Every rate on a hand-built set ----------------------------------------------------------


def test_every_rate_on_a_hand_built_set(client, login, hand_set):
    login("zhihui")
    data = get_api(client, category="kpi-probe").json()
    counts = {
        "intake": 7,  # 8 cases, one merged
        "petition_cases": 1,
        "petition_visits": 3,
        "closed": 3,
        "due": 5,  # 3 closed + c4 and c6 past their deadline
        "closed_on_time": 2,
        "callbacks": 5,  # the merged report's callback is not counted
        "callbacks_satisfied": 3,
        "resolved_once": 5,  # c1, c2, c3 closed, c4 reopened, c6 resolved
        "reworked": 2,
        "escalated": 1,
        "resolved": 4,
        "resolved_community_level": 2,
        "resolved_street_level": 3,
        "resolved_at_grid": 1,
        "resolved_at_community": 1,
        "resolved_at_street": 1,
        "resolved_at_district": 1,
    }
    assert {k: data[k] for k in counts} == counts
    assert data["closure_rate"] == 0.43  # 3 / 7
    assert data["closure_rate_due"] == 0.6  # 3 / 5
    assert data["on_time_rate"] == 0.67  # 2 / 3
    assert data["satisfaction_rate"] == 0.6  # 3 / 5
    assert data["rework_rate"] == 0.4  # 2 / 5
    assert data["escalation_rate"] == 0.14  # 1 / 7
    assert data["community_level_rate"] == 0.5  # 2 / 4
    assert data["street_level_rate"] == 0.75  # 3 / 4


def test_a_rate_without_denominator_is_null(client, login, probe):
    login("zhihui")
    make_case(probe, Status.REGISTERED)
    data = get_api(client, category="kpi-probe").json()
    assert data["intake"] == 1
    assert data["satisfaction_rate"] is None
    assert data["on_time_rate"] is None
    assert data["closure_rate"] == 0.0


def test_totals_take_one_query(hand_set):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    user = User.objects.get(username="zhihui")
    query = parse_query({"category": "kpi-probe"})
    with CaptureQueriesContext(connection) as captured:
        kpi_totals(user, query)
    statements = [q["sql"] for q in captured.captured_queries]
    reads = [sql for sql in statements if "cases_case" in sql]
    assert len(reads) == 1 and "FILTER (WHERE" in reads[0]
    # Only transaction control besides: the savepoint that scopes SET LOCAL jit.
    assert all(
        sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL jit"))
        for sql in statements
        if sql not in reads
    )


def test_rows_by_every_dimension_add_up_to_the_totals(client, login, hand_set, area):
    login("zhihui")
    for by in ("street", "community", "grid", "category", "source", "month", "week"):
        data = get_api(client, category="kpi-probe", by=by).json()
        assert data["by"] == by
        assert sum(r["intake"] for r in data["rows"]) == data["intake"] == 7, by
        assert sum(r["callbacks"] for r in data["rows"]) == data["callbacks"], by
    rows = get_api(client, category="kpi-probe", by="grid").json()["rows"]
    assert [(r["key"], r["label"]) for r in rows] == [(area["grid"].code, area["grid"].name)]
    rows = get_api(client, category="kpi-probe", by="source").json()["rows"]
    assert [(r["key"], r["intake"]) for r in rows] == [("petition", 1), ("dispute", 6)]


def test_a_case_outside_every_grid_has_its_own_row(client, login, probe):
    login("admin")
    make_case(probe, Status.REGISTERED, location=point(80.0, 10.0))
    rows = get_api(client, category="kpi-probe", by="grid").json()["rows"]
    assert [(r["key"], r["label"], r["intake"]) for r in rows] == [("", "未划入区域", 1)]


def test_month_and_week_follow_shanghai_days(client, login, probe):
    login("zhihui")
    # 2026-01-31 23:30 UTC is 1 February 07:30 in Kunming.
    make_case(probe, Status.REGISTERED, reported_at=datetime(2026, 1, 31, 23, 30, tzinfo=SH))
    make_case(
        probe, Status.REGISTERED, reported_at=datetime(2026, 1, 31, 23, 30, tzinfo=ZoneInfo("UTC"))
    )
    rows = get_api(client, category="kpi-probe", by="month").json()["rows"]
    assert [(r["key"], r["label"], r["intake"]) for r in rows] == [
        ("2026-01-01", "2026年1月", 1),
        ("2026-02-01", "2026年2月", 1),
    ]
    rows = get_api(client, category="kpi-probe", by="week").json()["rows"]
    # Saturday 31 January and Sunday 1 February: one ISO week, starting Monday 26 January.
    assert [(r["key"], r["label"], r["intake"]) for r in rows] == [("2026-01-26", "2026年第5周", 2)]


# Filters ---------------------------------------------------------------------------------


def test_since_and_until_are_inclusive_shanghai_days(client, login, probe):
    login("zhihui")
    make_case(probe, Status.REGISTERED, reported_at=shanghai(2025, 12, 31, 23, 59))
    make_case(probe, Status.REGISTERED, reported_at=shanghai(2026, 1, 1, 0, 0))
    make_case(probe, Status.REGISTERED, reported_at=shanghai(2026, 1, 31, 23, 59))
    make_case(probe, Status.REGISTERED, reported_at=shanghai(2026, 2, 1, 0, 0))
    assert get_api(client, category="kpi-probe").json()["intake"] == 4
    data = get_api(client, category="kpi-probe", since="2026-01-01", until="2026-01-31").json()
    assert data["intake"] == 2
    assert data["filters"] == {
        "category": "kpi-probe",
        "since": "2026-01-01",
        "until": "2026-01-31",
    }
    assert data["as_of"].startswith("2026-02-01T00:00:00+08:00")
    assert get_api(client, category="kpi-probe", since="2026-01-01").json()["intake"] == 3
    assert get_api(client, category="kpi-probe", until="2025-12-31").json()["intake"] == 1


def test_due_is_judged_at_the_end_of_the_period(client, login, probe):
    login("zhihui")
    make_case(
        probe,
        Status.IN_PROGRESS,
        reported_at=shanghai(2026, 1, 5, 9),
        deadline=shanghai(2026, 1, 12, 18),
    )
    assert get_api(client, category="kpi-probe", until="2026-01-11").json()["due"] == 0
    assert get_api(client, category="kpi-probe", until="2026-01-12").json()["due"] == 1


def test_area_and_source_filters(client, login, hand_set, area):
    login("zhihui")
    for name in ("street", "community", "grid"):
        assert get_api(client, **{name: area[name].code}).json()["intake"] == 7, name
    other = make_community(area["street"], geom=square(103.05, 24.05, 0.01))
    assert get_api(client, community=other.code).json()["intake"] == 0
    assert (
        get_api(client, street="530112002").json()["intake"]
        == Case.objects.filter(street__code="530112002").exclude(status=Status.MERGED).count()
    )
    data = get_api(client, category="kpi-probe", source="petition").json()
    assert (data["intake"], data["petition_visits"]) == (1, 3)


# Scoping ---------------------------------------------------------------------------------


def test_a_street_centre_sees_only_its_street(client, login, hand_set):
    user = login("majie")
    mine = Case.objects.filter(street=user.street).exclude(status=Status.MERGED)
    data = get_api(client, by="street").json()
    assert data["intake"] == mine.count() > 0
    assert [r["key"] for r in data["rows"]] == [user.street.code]
    # The hand-built set is in another street: invisible, even when asked for.
    assert get_api(client, category="kpi-probe").json()["intake"] == 0
    fuhai = Street.objects.get(name="福海街道")
    assert get_api(client, street=fuhai.code).json()["intake"] == 0


def test_a_community_centre_sees_only_its_community(client, login):
    user = login("chuanfang")
    mine = Case.objects.filter(community=user.community).exclude(status=Status.MERGED)
    rows = get_api(client, by="community").json()["rows"]
    assert [(r["key"], r["intake"]) for r in rows] == [(user.community.code, mine.count())]


@pytest.mark.parametrize(
    "by", ["street", "community", "grid", "category", "source", "month", "week"]
)
def test_rows_add_up_to_the_separately_counted_totals(by, hand_set):
    from accounts.models import User

    user = User.objects.get(username="zhihui")
    for params in ({"category": "kpi-probe"}, {"since": "2026-01-01"}):
        query = parse_query(params)
        assert totals_of_rows(kpi_breakdown(user, query, by)) == kpi_totals(user, query)


def test_selectors_scope_by_user(hand_set):
    from accounts.models import User

    query = parse_query({"category": "kpi-probe"})
    assert kpi_totals(User.objects.get(username="admin"), query)["intake"] == 7
    assert kpi_totals(User.objects.get(username="majie"), query)["intake"] == 0
    assert kpi_breakdown(User.objects.get(username="wangge"), query, "grid") == []


# Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"source": "police"},
        {"source": "police_110' OR '1'='1"},
        {"category": "'; DROP TABLE cases_case; --"},
        {"category": "no-such-category"},
        {"street": "53011200"},
        {"street": "999999999"},
        {"street": "530112001 OR 1=1"},
        {"community": "１２３４５６７８９０１２"},
        {"grid": "1" * 21},
        {"grid": "00000000000000000000"},
        {"since": "2026-13-01"},
        {"since": "yesterday"},
        {"since": "2026-02-30"},
        {"until": "1900-01-01"},
        {"since": "2026-03-01", "until": "2026-02-01"},
        {"by": "hour"},
        {"by": "grid; DELETE FROM cases_case"},
        {"source": "\x00"},
    ],
)
def test_bad_parameters_answer_400_in_both_languages(client, login, params):
    login("zhihui")
    response = get_api(client, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "查询参数无效 / Invalid query parameters."
    (message,) = body["errors"].values()
    zh, en = message.split(" / ", 1)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii()


def test_the_api_refuses_an_anonymous_client(client):
    assert get_api(client).status_code in (401, 403)


# Page and export -------------------------------------------------------------------------


def test_page_answers_a_logged_in_user(client, login, hand_set):
    login("zhihui")
    response = client.get(reverse("kpi-dashboard"), {"category": "kpi-probe", "by": "grid"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "结案率" in html and "满意率" in html and "小事不出社区" in html
    assert 'data-kpi="closure_rate">42.9%<' in html  # 3 / 7
    assert 'data-kpi="satisfaction_rate">60.0%<' in html
    assert 'id="kpi-data"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html and "gridmap/kpis.js" in html
    assert "http://" not in html and "https://" not in html


def test_page_sends_an_anonymous_user_to_login(client):
    for name in ("kpi-dashboard", "kpi-export"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_page_explains_bad_parameters_in_chinese(client, login):
    login("zhihui")
    response = client.get(reverse("kpi-dashboard"), {"since": "<script>", "trend": "day"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "日期格式应为 YYYY-MM-DD" in html and "趋势粒度" in html
    assert 'value="&lt;script&gt;"' in html


def test_page_escapes_names(client, login, area):
    login("zhihui")
    evil = Category.objects.create(code="kpi-evil", name="<script>alert(1)</script>")
    make_case(evil, Status.REGISTERED)
    html = client.get(reverse("kpi-dashboard"), {"category": "kpi-evil", "by": "category"})
    html = html.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_xlsx_opens_and_has_the_same_numbers(client, login, hand_set):
    login("zhihui")
    params = {"category": "kpi-probe", "by": "grid"}
    data = get_api(client, **params).json()
    response = client.get(reverse("kpi-export"), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(BytesIO(response.content))
    assert book.sheetnames == ["指标汇总", "按网格", "按事项类别", "按来源", "按月份"]
    summary = book["指标汇总"]
    values = {row[0].value: row for row in summary.iter_rows(min_row=6)}
    assert values["受理量（件）"][1].value == data["intake"] == 7
    assert values["结案数（件）"][1].value == data["closed"]
    assert values["信访人次（人次）"][1].value == 3
    for name, key in (
        ("结案率", "closure_rate"),
        ("按期结案率", "on_time_rate"),
        ("满意率", "satisfaction_rate"),
        ("返工率", "rework_rate"),
        ("上报率", "escalation_rate"),
        ("小事不出社区", "community_level_rate"),
        ("大事不出街道", "street_level_rate"),
    ):
        cell = values[name][1]
        assert round(cell.value, 2) == data[key], name
        assert cell.number_format == "0.0%"
    assert "指标测试" in summary["B3"].value
    grid_sheet = book["按网格"]
    header = [c.value for c in grid_sheet[1]]
    assert header[:4] == ["网格", "代码", "受理量（件）", "信访人次"]
    row = [c.value for c in grid_sheet[2]]
    assert row[1] == data["rows"][0]["key"] and row[2] == 7
    assert round(row[header.index("满意率")], 2) == data["satisfaction_rate"]


def test_xlsx_refuses_bad_parameters(client, login):
    login("zhihui")
    response = client.get(reverse("kpi-export"), {"source": "nope"})
    assert response.status_code == 400
    assert "来源应为" in response.content.decode()
