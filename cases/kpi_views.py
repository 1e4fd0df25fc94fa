"""The KPI dashboard page (/kpis/) and its XLSX export (/kpis/export.xlsx)."""

from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.scoping import scope
from cases.kpi_xlsx import COLUMNS, FILTER_NAMES, kpi_workbook
from cases.kpis import (
    DEFINITIONS,
    DIMENSIONS,
    RATES,
    TZ,
    KpiParamError,
    kpi_breakdown,
    parse_query,
    totals_of_rows,
)
from cases.models import Category, Level, Source
from layers.models import Community, Street

TRENDS = {"month": "按月", "week": "按周"}
DEFAULT_TABLE = "community"

# (rate, card title) of the KPI cards, in order.
CARDS = [
    ("closure_rate", "结案率"),
    ("on_time_rate", "按期结案率"),
    ("satisfaction_rate", "满意率"),
    ("rework_rate", "返工率"),
    ("escalation_rate", "上报率"),
    ("community_level_rate", "小事不出社区"),
    ("street_level_rate", "大事不出街道"),
]
LEVEL_NAMES = {
    Level.GRID: "网格",
    Level.COMMUNITY: "社区",
    Level.STREET: "街道",
    Level.DISTRICT: "区级",
}


def percent(numerator, denominator):
    """Return a Chinese-style percentage ("88.9%"), or "—" when there is nothing to divide."""
    if not denominator:
        return "—"
    return f"{100 * numerator / denominator:.1f}%"


def number(value):
    return f"{value:,}"


def chinese_datetime(moment):
    local = moment.astimezone(TZ)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _parse(request):
    """Return (query, table dimension, trend dimension, errors in Chinese)."""
    errors = {}
    trend = request.GET.get("trend", "").strip() or "month"
    if trend not in TRENDS:
        errors["trend"] = "趋势粒度应为 按月 或 按周"
        trend = "month"
    try:
        query = parse_query(request.GET)
    except KpiParamError as exc:
        errors.update(exc.chinese())
        query = None
    table = (query.by if query else "") or DEFAULT_TABLE
    return query, table, trend, errors


def filter_labels(query):
    """Return the active filters as Chinese "name：value" strings."""
    labels = []
    values = {
        "street": query.street.name if query.street else "",
        "community": query.community.name if query.community else "",
        "grid": query.grid_code,
        "category": query.category.name if query.category else "",
        "source": str(Source(query.source).label) if query.source else "",
        "since": query.since.isoformat() if query.since else "",
        "until": query.until.isoformat() if query.until else "",
    }
    for key, name in FILTER_NAMES.items():
        if values[key]:
            labels.append(f"{name}：{values[key]}")
    return labels


def _display(row):
    """Add the Chinese display strings of a KPI row (percentages from the exact counts)."""
    row["pct"] = {name: percent(row[num], row[den]) for name, (num, den) in RATES.items()}
    row["display"] = {k: number(v) for k, v in row.items() if isinstance(v, int)}
    row["cells"] = [
        row["pct"][key] if kind == "rate" else number(row[key]) for key, _t, kind in COLUMNS
    ]
    return row


def _exact(row, name):
    num, den = RATES[name]
    return round(100 * row[num] / row[den], 1) if row[den] else None


def _chart_data(totals, trend_rows, category_rows, source_rows):
    return {
        "trend": {
            "labels": [r["label"] for r in trend_rows],
            "intake": [r["intake"] for r in trend_rows],
            "closed": [r["closed"] for r in trend_rows],
            "closure_rate": [_exact(r, "closure_rate") for r in trend_rows],
            "satisfaction_rate": [_exact(r, "satisfaction_rate") for r in trend_rows],
        },
        "category": {
            "labels": [r["label"] for r in category_rows],
            "intake": [r["intake"] for r in category_rows],
            "closed": [r["closed"] for r in category_rows],
        },
        "source": {
            "labels": [r["label"] for r in source_rows],
            "intake": [r["intake"] for r in source_rows],
        },
        "level": {
            "labels": [LEVEL_NAMES[level] for level in Level.values],
            "counts": [totals[f"resolved_at_{level}"] for level in Level.values],
        },
    }


@login_required
@require_GET
def dashboard(request):
    """Show the KPIs of the user's area: filters, cards, charts and a table."""
    query, table, trend, errors = _parse(request)
    context = {
        "values": {k: request.GET.get(k, "").strip() for k in (*FILTER_NAMES, "by", "trend")},
        "streets": scope(request.user, Street.objects.order_by("code")),
        "communities": scope(
            request.user, Community.objects.select_related("street").order_by("code")
        ),
        "categories": Category.objects.order_by("order", "code"),
        "sources": Source.choices,
        "dimensions": [(k, v[0]) for k, v in DIMENSIONS.items()],
        "trends": TRENDS.items(),
        "table_by": table,
        "table_name": DIMENSIONS[table][0],
        "columns": [title for _k, title, _kind in COLUMNS],
        "definitions": [(k, zh) for k, (zh, _en) in DEFINITIONS.items()],
        "errors": errors,
    }
    if errors:
        return render(request, "cases/kpis/dashboard.html", context, status=400)
    now = timezone.now()
    table_rows = [_display(r) for r in kpi_breakdown(request.user, query, table, now=now)]
    totals = _display(totals_of_rows(table_rows))
    trend_rows = kpi_breakdown(request.user, query, trend, now=now)
    category_rows = kpi_breakdown(request.user, query, "category", now=now)
    source_rows = kpi_breakdown(request.user, query, "source", now=now)
    context.update(
        {
            "totals": totals,
            "cards": [
                {
                    "title": title,
                    "key": key,
                    "value": totals["pct"][key],
                    "detail": f"{number(totals[RATES[key][0]])} / {number(totals[RATES[key][1]])}",
                }
                for key, title in CARDS
            ],
            "rows": table_rows,
            "as_of": chinese_datetime(query.as_of(now)),
            "filter_labels": filter_labels(query),
            "chart_data": _chart_data(totals, trend_rows, category_rows, source_rows),
            "export_query": request.GET.urlencode(),
        }
    )
    return render(request, "cases/kpis/dashboard.html", context)


@login_required
@require_GET
def export_xlsx(request):
    """Send the KPIs as an XLSX workbook, with the same filters as the page."""
    query, table, trend, errors = _parse(request)
    if errors:
        text = "查询参数无效：" + "；".join(errors.values())
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    now = timezone.now()
    breakdowns = {}
    for by in dict.fromkeys([table, "category", "source", trend]):
        breakdowns[by] = kpi_breakdown(request.user, query, by, now=now)
    report = totals_of_rows(breakdowns[table])
    report["as_of_text"] = chinese_datetime(query.as_of(now))
    body = kpi_workbook(report, breakdowns, filter_labels(query))
    stamp = timezone.localtime(now, TZ).strftime("%Y%m%d")
    response = HttpResponse(
        body,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="kpis-{stamp}.xlsx"; '
        f"filename*=UTF-8''{quote(f'考核指标-{stamp}.xlsx')}"
    )
    return response
