"""KPIs of the four centres (考核指标), computed in PostgreSQL in one aggregate query.

Every figure is a count over the cases the user may see (``accounts.scoping``) that match
the filters; each rate is a quotient of two of those counts. One query with
``COUNT(*) FILTER (WHERE …)`` clauses computes them all, grouped by one dimension when asked
(``cases/sql_kpis.py``; the case set itself is an ORM queryset, scoped by
``cases.selectors.cases_visible_to``).

Definitions (also shown on the dashboard page and returned by the API):

- **intake 受理量 (件)**: cases reported in the period (``reported_at`` within
  ``since``..``until``, Asia/Shanghai days, both inclusive), excluding reports merged into
  another case (status ``merged``). For petitions the person-visits are counted too:
  ``petition_visits`` 人次 = sum of ``visitors`` of the petition cases (``petition_cases`` 件).
- **closed 结案数**: intake cases whose status is ``closed``.
- **due 应结案数**: intake cases that are closed, or whose deadline has passed at the end of
  the period (the end of ``until``, or now if earlier).
- **closure_rate 结案率** = closed / intake. (``closure_rate_due`` = closed / due is given too.)
- **on_time_rate 按期结案率** = closed on time / closed, where a closed case is on time when
  ``closed_at`` ≤ ``deadline`` (a case without a deadline counts as on time).
- **satisfaction_rate 满意率** = callbacks rated 满意 or 基本满意 / all callbacks of the intake
  cases (one case may have several callbacks: each counts).
- **rework_rate 返工率** = intake cases reopened at least once (a ``reopen`` event, 重办) /
  intake cases resolved at least once (``resolved_at`` set, status resolved / verified /
  called back / closed, or reopened).
- **escalation_rate 上报率** = intake cases escalated at least once (an ``escalate`` event) /
  intake.
- **community_level_rate 小事不出社区** = resolved at grid or community level / resolved;
  **street_level_rate 大事不出街道** = resolved at grid, community or street level / resolved,
  where resolved means the case records the level that resolved it (``resolved_level``).

A rate whose denominator is 0 is ``None``. Rates are rounded to 2 decimals (0.89); the
counts they come from are returned alongside, so nothing is lost.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import F
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from cases import sql_kpis
from cases.models import Callback, Case, Category, Level, Source, Status
from cases.selectors import cases_visible_to
from layers.models import Community, Grid, Street

TZ = ZoneInfo("Asia/Shanghai")

RESOLVED_STATUSES = (Status.RESOLVED, Status.VERIFIED, Status.CALLED_BACK, Status.CLOSED)
SATISFIED_RATINGS = (Callback.Rating.SATISFIED, Callback.Rating.BASICALLY)
COMMUNITY_LEVELS = (Level.GRID, Level.COMMUNITY)
STREET_LEVELS = (Level.GRID, Level.COMMUNITY, Level.STREET)

# Each rate: (numerator, denominator).
RATES = {
    "closure_rate": ("closed", "intake"),
    "closure_rate_due": ("closed", "due"),
    "on_time_rate": ("closed_on_time", "closed"),
    "satisfaction_rate": ("callbacks_satisfied", "callbacks"),
    "rework_rate": ("reworked", "resolved_once"),
    "escalation_rate": ("escalated", "intake"),
    "community_level_rate": ("resolved_community_level", "resolved"),
    "street_level_rate": ("resolved_street_level", "resolved"),
}

# Chinese first, English second: shown on the page and returned by the API.
DEFINITIONS = {
    "intake": (
        "受理量：期内登记的案件数（件），不含已合并的重复报告",
        "cases reported in the period, excluding merged duplicates",
    ),
    "petition_visits": (
        "信访人次：信访案件的来访人次之和",
        "person-visits of the petition cases",
    ),
    "closed": (
        "结案数：受理案件中已结案的件数",
        "intake cases with status closed",
    ),
    "due": (
        "应结案数：已结案或期末已到办理时限的受理案件",
        "intake cases closed, or past their deadline at the end of the period",
    ),
    "closure_rate": (
        "结案率 = 结案数 / 受理量",
        "closed / intake",
    ),
    "closure_rate_due": (
        "应结案结案率 = 结案数 / 应结案数",
        "closed / due",
    ),
    "on_time_rate": (
        "按期结案率 = 在办理时限内结案的件数 / 结案数",
        "closed by the deadline / closed",
    ),
    "satisfaction_rate": (
        "满意率 = 回访评价为满意或基本满意的次数 / 回访总次数",
        "callbacks rated satisfied or basically satisfied / callbacks",
    ),
    "rework_rate": (
        "返工率 = 曾被重办的件数 / 曾办结的件数",
        "cases reopened at least once / cases resolved at least once",
    ),
    "escalation_rate": (
        "上报率 = 曾被上报的件数 / 受理量",
        "cases escalated at least once / intake",
    ),
    "community_level_rate": (
        "小事不出社区 = 在网格或社区层级办结的件数 / 已记录办结层级的件数",
        "resolved at grid or community level / resolved",
    ),
    "street_level_rate": (
        "大事不出街道 = 在网格、社区或街道层级办结的件数 / 已记录办结层级的件数",
        "resolved at grid, community or street level / resolved",
    ),
}

DIMENSIONS = {
    "street": ("街道", "street"),
    "community": ("社区", "community"),
    "grid": ("网格", "grid"),
    "category": ("事项类别", "category"),
    "source": ("来源", "source"),
    "month": ("月份", "month"),
    "week": ("周", "week"),
}
_KEY_FIELD = {
    "street": "street__code",
    "community": "community__code",
    "grid": "grid__code",
    "category": "category__code",
    "source": "source",
}

UNASSIGNED = "未划入区域"


class KpiParamError(ValueError):
    """Bad query parameters: ``errors`` maps each parameter to its (Chinese, English) message."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {zh} / {en}" for k, (zh, en) in errors.items()))

    def bilingual(self):
        return {k: f"{zh} / {en}" for k, (zh, en) in self.errors.items()}

    def chinese(self):
        return {k: zh for k, (zh, _en) in self.errors.items()}


@dataclass(frozen=True)
class KpiQuery:
    """Validated filters (areas and categories resolved to rows) and an optional dimension."""

    street: Street | None = None
    community: Community | None = None
    grid_code: str = ""
    category: Category | None = None
    source: str = ""
    since: date | None = None
    until: date | None = None
    by: str = ""
    params: dict = field(default_factory=dict)

    def start(self):
        return datetime.combine(self.since, time.min, TZ) if self.since else None

    def end(self):
        """Return the first moment after the period (exclusive), or None."""
        if not self.until:
            return None
        return datetime.combine(self.until + timedelta(days=1), time.min, TZ)

    def as_of(self, now=None):
        """Return the moment at which 'due' is judged: the end of the period, or now."""
        now = now or timezone.now()
        end = self.end()
        return min(end, now) if end else now


_CODE_RE = {"street": r"[0-9]{9}", "community": r"[0-9]{12}", "grid": r"[0-9]{20}"}
_CODE_LEN = {"street": 9, "community": 12, "grid": 20}
_AREA_ZH = {"street": "街道", "community": "社区", "grid": "网格"}
_SLUG_RE = r"[A-Za-z0-9_-]{1,40}"
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
FILTER_PARAMS = ("street", "community", "grid", "category", "source", "since", "until", "by")


def _param(params, name):
    value = params.get(name, "")
    if value is None:
        return ""
    return str(value).strip()


def _parse_date(value, name, errors):
    if not value:
        return None
    if not re.fullmatch(_DATE_RE, value):
        errors[name] = ("日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD")
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[name] = ("日期无效", "not a valid date")
        return None
    if not 2000 <= day.year <= 2100:
        errors[name] = ("日期应在 2000 年至 2100 年之间", "date must be between 2000 and 2100")
        return None
    return day


def parse_query(params, *, allow_by=True):
    """Return the KpiQuery for the request parameters, or raise KpiParamError."""
    errors = {}
    found = {}
    clean = {}
    for name in ("street", "community", "grid"):
        value = _param(params, name)
        if not value:
            continue
        clean[name] = value
        if not re.fullmatch(_CODE_RE[name], value):
            errors[name] = (
                f"{_AREA_ZH[name]}代码应为 {_CODE_LEN[name]} 位数字",
                f"{name} code must be {_CODE_LEN[name]} digits",
            )
            continue
        if name == "street":
            found[name] = Street.objects.filter(code=value).first()
        elif name == "community":
            found[name] = Community.objects.filter(code=value).select_related("street").first()
        else:
            found[name] = Grid.objects.filter(code=value).exists() or None
        if found[name] is None:
            errors[name] = (f"未找到该{_AREA_ZH[name]}代码", f"unknown {name} code")

    category = None
    value = _param(params, "category")
    if value:
        clean["category"] = value
        if not re.fullmatch(_SLUG_RE, value):
            errors["category"] = (
                "类别代码只能包含字母、数字、下划线和连字符",
                "category code may hold only letters, digits, _ and -",
            )
        else:
            category = Category.objects.filter(code=value).first()
            if category is None:
                errors["category"] = ("未找到该事项类别", "unknown category code")

    source = _param(params, "source")
    if source:
        clean["source"] = source
        if source not in Source.values:
            errors["source"] = (
                "来源应为：" + "、".join(Source.values),
                "source must be one of " + ", ".join(Source.values),
            )
            source = ""

    since_s, until_s = _param(params, "since"), _param(params, "until")
    since = _parse_date(since_s, "since", errors)
    until = _parse_date(until_s, "until", errors)
    if since_s:
        clean["since"] = since_s
    if until_s:
        clean["until"] = until_s
    if since and until and since > until:
        errors["until"] = ("结束日期不能早于开始日期", "until must not be before since")

    by = _param(params, "by")
    if by:
        clean["by"] = by
        if not allow_by or by not in DIMENSIONS:
            errors["by"] = (
                "分组维度应为：" + "、".join(DIMENSIONS),
                "by must be one of " + ", ".join(DIMENSIONS),
            )
            by = ""

    if errors:
        raise KpiParamError(errors)
    return KpiQuery(
        street=found.get("street"),
        community=found.get("community"),
        grid_code=clean.get("grid", ""),
        category=category,
        source=source,
        since=since,
        until=until,
        by=by,
        params={k: v for k, v in clean.items() if k != "by"},
    )


def visible_cases(user):
    """Return the cases the user may see (area scoping plus department assignments)."""
    return cases_visible_to(user, Case.objects.all())


def filtered_cases(user, query):
    """Return the scoped intake cases matching the query's filters."""
    qs = visible_cases(user).exclude(status=Status.MERGED)
    if query.street:
        qs = qs.filter(street=query.street)
    if query.community:
        qs = qs.filter(community=query.community)
    if query.grid_code:
        qs = qs.filter(grid__code=query.grid_code)
    if query.category:
        qs = qs.filter(category=query.category)
    if query.source:
        qs = qs.filter(source=query.source)
    if query.start():
        qs = qs.filter(reported_at__gte=query.start())
    if query.end():
        qs = qs.filter(reported_at__lt=query.end())
    return qs


def _counts(user, query, by=None, *, now=None):
    """Return the counts (one dict, or one per value of `by` with its "kpi_key")."""
    qs = filtered_cases(user, query).order_by()
    fields = ("pk", *sql_kpis.CASE_COLUMNS[1:])
    if by:
        qs = qs.annotate(kpi_key=_key_expression(by))
        fields += ("kpi_key",)
    cases_sql, cases_params = qs.values_list(*fields).query.sql_with_params()
    params = {
        "as_of": query.as_of(now),
        "reopen": "reopen",
        "escalate": "escalate",
        "petition": str(Source.PETITION),
        "closed": str(Status.CLOSED),
        "satisfied": [str(r) for r in SATISFIED_RATINGS],
        "resolved_statuses": [str(s) for s in RESOLVED_STATUSES],
        "levels": [str(level) for level in Level.values],
        "community_levels": [str(level) for level in COMMUNITY_LEVELS],
        "street_levels": [str(level) for level in STREET_LEVELS],
    }
    return sql_kpis.kpi_counts(cases_sql, cases_params, grouped=bool(by), params=params)


def rate(numerator, denominator):
    """Return numerator / denominator rounded to 2 decimals, or None when nothing to divide."""
    if not denominator:
        return None
    return round(numerator / denominator, 2)


def with_rates(counts):
    """Return the counts with every rate added."""
    row = dict(counts)
    for name, (num, den) in RATES.items():
        row[name] = rate(row[num], row[den])
    return row


def totals_of_rows(rows):
    """Return the totals of breakdown rows: every count is additive, a case being in one row."""
    return with_rates({name: sum(r[name] for r in rows) for name in sql_kpis.COUNT_NAMES})


def kpi_totals(user, query, *, now=None):
    """Return the KPIs of every case the user may see that matches the query."""
    return with_rates(_counts(user, query, now=now))


def _key_expression(by):
    if by == "month":
        return TruncMonth("reported_at", tzinfo=TZ)
    if by == "week":
        return TruncWeek("reported_at", tzinfo=TZ)
    return F(_KEY_FIELD[by])


def _labels(by, keys):
    """Return {key: Chinese label} for the keys of one dimension."""
    keys = [k for k in keys if k is not None]
    if by == "street":
        return dict(Street.objects.filter(code__in=keys).values_list("code", "name"))
    if by == "community":
        return dict(Community.objects.filter(code__in=keys).values_list("code", "name"))
    if by == "grid":
        # The current boundary's name wins over older versions'.
        rows = Grid.objects.filter(code__in=keys).order_by("code", "-version")
        labels = {}
        for code, name in rows.values_list("code", "name"):
            labels.setdefault(code, name)
        return labels
    if by == "category":
        return dict(Category.objects.filter(code__in=keys).values_list("code", "name"))
    if by == "source":
        return {k: str(Source(k).label) for k in keys if k in Source.values}
    if by == "month":
        return {k: f"{k.year}年{k.month}月" for k in keys}
    if by == "week":
        return {k: "{}年第{}周".format(*k.isocalendar()[:2]) for k in keys}
    return {}


def _key_text(by, key):
    if key is None:
        return ""
    if by in ("month", "week"):
        return key.date().isoformat()
    return str(key)


def kpi_breakdown(user, query, by, *, now=None):
    """Return one KPI row per value of the dimension `by`, in a stable order."""
    if by not in DIMENSIONS:
        raise KpiParamError({"by": ("分组维度无效", "unknown dimension")})
    rows = _counts(user, query, by, now=now)
    if by in ("month", "week"):
        # The raw query answers Shanghai wall-clock timestamps without a zone.
        for r in rows:
            if r["kpi_key"] is not None and r["kpi_key"].tzinfo is None:
                r["kpi_key"] = r["kpi_key"].replace(tzinfo=TZ)
    labels = _labels(by, [r["kpi_key"] for r in rows])
    out = []
    for r in rows:
        key = r.pop("kpi_key")
        row = with_rates(r)
        row["key"] = _key_text(by, key)
        row["label"] = labels.get(key, UNASSIGNED if key is None else str(key))
        out.append(row)
    if by in ("month", "week"):
        out.sort(key=lambda r: r["key"])
    elif by == "source":
        order = {v: i for i, v in enumerate(Source.values)}
        out.sort(key=lambda r: order.get(r["key"], len(order)))
    elif by == "category":
        out.sort(key=lambda r: (-r["intake"], r["key"]))
    else:
        out.sort(key=lambda r: (r["key"] == "", r["key"]))
    return out


def kpi_report(user, query, *, now=None):
    """Return the totals, and the rows by the query's dimension when it names one."""
    now = now or timezone.now()
    rows = kpi_breakdown(user, query, query.by, now=now) if query.by else None
    report = {
        "filters": query.params,
        "as_of": query.as_of(now).astimezone(TZ).isoformat(),
        # With rows, one query answers both: the totals are their sums.
        **(totals_of_rows(rows) if rows is not None else kpi_totals(user, query, now=now)),
    }
    if query.by:
        report["by"] = query.by
        report["rows"] = rows
    report["definitions"] = {k: {"zh": zh, "en": en} for k, (zh, en) in DEFINITIONS.items()}
    return report
