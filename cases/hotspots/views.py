"""The hotspot analysis page (分析研判) and its data and report exports.

Views only parse, authorise (login + area scope via cases.hotspots.service.resolve_area,
which uses accounts.scoping), call the service and render. Bad parameters answer 400
with the reasons in Chinese, never a 500.
"""

import logging

import folium
import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET

from cases.hotspots import service, stats
from cases.hotspots.forms import LAYERS, VARIABLES, HotspotQueryForm
from cases.hotspots.indicators import INDICATOR_LABELS_ZH

log = logging.getLogger(__name__)

TEMPLATE = "hotspots/page.html"

# The page's labels, translated. The analysis (cases.hotspots.stats, .service, .forms,
# .indicators) names its classes in Chinese for the meeting report; the page shows them
# in the user's language, and the zh-hans catalogue gives back exactly those Chinese
# names (tests/test_i18n.py checks that they agree).
LAYER_LABELS = {
    "gi": gettext_lazy("Hot spot analysis (Gi*)"),
    "lisa": gettext_lazy("Clusters and outliers (local Moran’s I)"),
    "kde": gettext_lazy("Case kernel density"),
    "emerging": gettext_lazy("Space-time hot spots (emerging hot spots)"),
    "risk": gettext_lazy("Rental-house risk index of the communities"),
}
VARIABLE_LABELS = {
    "cases": gettext_lazy("Number of cases"),
    "case_rate_per_1000": gettext_lazy("Cases per 1,000 residents"),
}
INDICATOR_LABELS = {
    "cases": gettext_lazy("Number of cases"),
    "population": gettext_lazy("Actual population"),
    "registered": gettext_lazy("Registered residents"),
    "floating": gettext_lazy("Floating population"),
    "rentals": gettext_lazy("Rental houses"),
    "case_rate_per_1000": gettext_lazy("Case rate (per 1,000 residents)"),
    "rental_density": gettext_lazy("Rental-house density (houses per km²)"),
    "floating_ratio": gettext_lazy("Ratio of floating to registered population"),
    "tenants_per_room": gettext_lazy("Tenants per rental room"),
    "unregistered_tenants": gettext_lazy("Number of unregistered tenants"),
    "overdue": gettext_lazy("Number of overdue cases"),
    "overdue_share": gettext_lazy("Share of overdue cases"),
    "area_km2": gettext_lazy("Area (km²)"),
}
RISK_LABELS = {name: INDICATOR_LABELS[name] for name in stats.RISK_INDICATORS}
GI_BIN_LABELS = {
    # xgettext:no-python-format
    3: gettext_lazy("Hot spot (99% confidence)"),
    # xgettext:no-python-format
    2: gettext_lazy("Hot spot (95% confidence)"),
    # xgettext:no-python-format
    1: gettext_lazy("Hot spot (90% confidence)"),
    0: gettext_lazy("Not significant"),
    # xgettext:no-python-format
    -1: gettext_lazy("Cold spot (90% confidence)"),
    # xgettext:no-python-format
    -2: gettext_lazy("Cold spot (95% confidence)"),
    # xgettext:no-python-format
    -3: gettext_lazy("Cold spot (99% confidence)"),
}
LISA_LABELS = {
    "HH": gettext_lazy("High-high cluster"),
    "LL": gettext_lazy("Low-low cluster"),
    "HL": gettext_lazy("High-low outlier"),
    "LH": gettext_lazy("Low-high outlier"),
    "NS": gettext_lazy("Not significant"),
}
# ArcGIS's names of the emerging hot spot classes.
EMERGING_LABELS = {
    1: gettext_lazy("New hot spot"),
    2: gettext_lazy("Consecutive hot spot"),
    3: gettext_lazy("Intensifying hot spot"),
    4: gettext_lazy("Persistent hot spot"),
    5: gettext_lazy("Diminishing hot spot"),
    6: gettext_lazy("Sporadic hot spot"),
    7: gettext_lazy("Oscillating hot spot"),
    8: gettext_lazy("Historical hot spot"),
    0: gettext_lazy("No pattern detected"),
    -1: gettext_lazy("New cold spot"),
    -2: gettext_lazy("Consecutive cold spot"),
    -3: gettext_lazy("Intensifying cold spot"),
    -4: gettext_lazy("Persistent cold spot"),
    -5: gettext_lazy("Diminishing cold spot"),
    -6: gettext_lazy("Sporadic cold spot"),
    -7: gettext_lazy("Oscillating cold spot"),
    -8: gettext_lazy("Historical cold spot"),
}
# How a grid's Gi* class changed between the periods (service._comparison's "status").
CHANGE_LABELS = {
    "新出现热点": gettext_lazy("Became a hot spot"),
    "热点消失": gettext_lazy("No longer a hot spot"),
    "持续热点": gettext_lazy("Stayed a hot spot"),
    "": "",
}
# Patrol priority levels of service.priority_table: (number, label).
PATROL_LEVELS = {
    "一级": (1, pgettext_lazy("patrol", "Priority 1")),
    "二级": (2, pgettext_lazy("patrol", "Priority 2")),
    "三级": (3, pgettext_lazy("patrol", "Priority 3")),
}


class QueryError(Exception):
    """The request cannot be analysed; ``messages`` say why, in the active language."""

    def __init__(self, messages, form=None, status=400):
        super().__init__("; ".join(messages))
        self.messages = messages
        self.form = form
        self.status = status


def prepare(request):
    """Return (form, area, query, result) for the request, or raise QueryError."""
    form = HotspotQueryForm(request.GET)
    if not form.is_valid():
        raise QueryError(form.error_list(), form)
    data = form.cleaned_data
    try:
        area = service.resolve_area(
            request.user, street_id=data.get("street"), community_id=data.get("community")
        )
    except service.AnalysisError as exc:
        raise QueryError([str(exc)], form, status=403 if exc.forbidden else 400) from exc
    query = service.Query(
        period=data["period"],
        compare=data["compare"],
        category_id=data["category"].pk if data["category"] else None,
        source=data["source"],
        variable=data["variable"],
        weights=data["weights"],
    )
    try:
        result = service.analyse(area=area, query=query)
    except (service.AnalysisError, ValueError) as exc:
        log.warning("hotspot analysis refused: %s", exc)
        raise QueryError(
            [_("The analysis could not be completed: %(reason)s") % {"reason": exc}], form
        ) from exc
    return form, area, query, result


def _error_page(request, exc):
    form = exc.form or HotspotQueryForm(request.GET)
    context = _form_context(request, form)
    context["errors"] = exc.messages
    return render(request, TEMPLATE, context, status=exc.status)


@login_required
@require_GET
def page(request):
    """Show the analysis: map, tables, charts, patrol priorities and the risk index."""
    try:
        form, area, query, result = prepare(request)
    except QueryError as exc:
        return _error_page(request, exc)
    layer = form.cleaned_data["layer"]
    frame = result["grids"]
    context = _form_context(request, form)
    context.update(
        {
            "area": area,
            "query": query,
            "result": result,
            "layer": layer,
            "layer_label": LAYER_LABELS[layer],
            "variable_label": VARIABLE_LABELS[query.variable],
            "map": build_map(result, layer, area.grid_ids),
            "legend": legend(result, layer),
            "cards": cards(result),
            "hot_rows": labelled(
                table_rows(frame[frame["gi_bin"] != 0].sort_values("gi_z", ascending=False))
            ),
            "emerging_rows": labelled(
                table_rows(
                    frame[frame["emerging"] != 0].sort_values(["emerging", "gi_z"], ascending=False)
                )
            ),
            "lisa_rows": labelled(
                table_rows(
                    frame[frame["lisa_cluster"] != "NS"].sort_values("lisa_i", ascending=False)
                )
            ),
            "risk_rows": table_rows(frame.sort_values("risk_index", ascending=False).head(20)),
            "community_rows": table_rows(result["communities"]),
            "drill": drill_rows(request, result, area),
            "patrol": patrol_rows(service.patrol_priorities(frame)),
            "compare_rows": _compare_rows(result),
            "grid_detail": _grid_detail(request, form, frame),
            "charts": chart_data(result, form.cleaned_data.get("grid")),
            "export_query": request.GET.urlencode(),
        }
    )
    context["values"].update(
        start=f"{query.period.start:%Y-%m-%d}",
        end=f"{query.period.end:%Y-%m-%d}",
        layer=layer,
        variable=query.variable,
    )
    context["weight_inputs"] = [
        (f"w_{name}", RISK_LABELS[name], f"{result['weights'][name]:g}")
        for name in stats.RISK_INDICATORS
    ]
    context["formula"] = formula_text(result["weights"])
    return render(request, TEMPLATE, context)


@login_required
@require_GET
def data(request):
    """Return the analysis as JSON (indicators and statistics per grid)."""
    try:
        _form, area, query, result = prepare(request)
    except QueryError as exc:
        return JsonResponse(
            {"detail": "查询参数有误 / Invalid query parameters", "errors": exc.messages},
            status=exc.status,
            json_dumps_params={"ensure_ascii": False},
        )
    frame = result["grids"]
    columns = [
        "code",
        "name",
        "community",
        "street",
        "cases",
        "population",
        "case_rate_per_1000",
        "rental_density",
        "floating_ratio",
        "tenants_per_room",
        "unregistered_tenants",
        "overdue_share",
        "gi_z",
        "gi_p",
        "gi_p_sim",
        "gi_q",
        "gi_bin",
        "lisa_cluster",
        "lisa_p",
        "emerging",
        "emerging_label",
        "risk_index",
    ]
    grids = [
        {"id": int(gid), **{c: _json_value(row[c]) for c in columns}}
        for gid, row in frame[columns].iterrows()
    ]
    payload = {
        "area": area.name,
        "period": [str(query.period.start), str(query.period.end)],
        "formula": result["formula"],
        "weights": result["weights"],
        "notes": result["notes"],
        "versions": result["versions"],
        "grids": grids,
    }
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


@login_required
@require_GET
def export_xlsx(request):
    """Download the meeting workbook (XLSX)."""
    try:
        form, area, query, result = prepare(request)
    except QueryError as exc:
        return _error_page(request, exc)
    from cases.hotspots import report

    # The meeting report is Chinese, whatever language the page is shown in.
    with translation.override(settings.LANGUAGE_CODE):
        content = report.workbook(
            area=area,
            query=query,
            result=result,
            patrol=service.patrol_priorities(result["grids"]),
        )
    _audit_export(request, area, query, result, "xlsx")
    return _download(
        content,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        report.filename(area, query, "xlsx"),
    )


@login_required
@require_GET
def export_pdf(request):
    """Download the meeting report (PDF with the map, tables and charts)."""
    try:
        form, area, query, result = prepare(request)
    except QueryError as exc:
        return _error_page(request, exc)
    from cases.hotspots import report

    with translation.override(settings.LANGUAGE_CODE):
        content = report.pdf(
            area=area,
            query=query,
            result=result,
            layer=form.cleaned_data["layer"],
            patrol=service.patrol_priorities(result["grids"]),
        )
    _audit_export(request, area, query, result, "pdf")
    return _download(content, "application/pdf", report.filename(area, query, "pdf"))


def _audit_export(request, area, query, result, fmt):
    """Record the export in the audit log, with what it covers."""
    from accounts import audit

    audit.record(
        user=request.user,
        action="export",
        request=request,
        detail={
            "report": "hotspots",
            "format": fmt,
            "area": area.name,
            "period": [str(query.period.start), str(query.period.end)],
            "grids": len(result["grids"]),
            "query": request.GET.dict(),
        },
    )


def _download(content, content_type, name):
    from urllib.parse import quote

    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


# ---------------------------------------------------------------------------
# Context helpers
# ---------------------------------------------------------------------------


def _form_context(request, form):
    from cases.models import Category, Source

    return {
        "form": form,
        "layers": [(value, LAYER_LABELS[value]) for value, _label in LAYERS],
        "variables": [(value, VARIABLE_LABELS[value]) for value, _label in VARIABLES],
        "categories": Category.objects.filter(active=True).order_by("order", "code"),
        "sources": Source.choices,
        "values": request.GET.dict(),
        "weight_inputs": [
            (f"w_{name}", RISK_LABELS[name], request.GET.get(f"w_{name}", ""))
            for name in stats.RISK_INDICATORS
        ],
        "errors": [],
    }


def _json_value(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 6)
    return value


def link(request, **changes):
    """Return the page URL with the current query and some parameters changed."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode()


def table_rows(frame):
    """Return frame rows as dicts with the grid id under ``id``."""
    rows = []
    for gid, row in frame.iterrows():
        item = {k: (None if (isinstance(v, float) and np.isnan(v)) else v) for k, v in row.items()}
        item["id"] = int(gid)
        rows.append(item)
    return rows


def labelled(rows):
    """Put the class labels of table rows in the user's language."""
    for row in rows:
        if "gi_bin" in row:
            row["gi_label"] = GI_BIN_LABELS[int(row["gi_bin"])]
        if "gi_bin_before" in row:
            row["gi_label_before"] = GI_BIN_LABELS[int(row["gi_bin_before"])]
        if "lisa_cluster" in row:
            row["lisa_label"] = LISA_LABELS.get(row["lisa_cluster"], row.get("lisa_label"))
        if "emerging" in row:
            row["emerging_label"] = EMERGING_LABELS[int(row["emerging"])]
        if "status" in row:
            row["status"] = CHANGE_LABELS.get(row["status"], row["status"])
    return rows


_GI_BY_ZH = {zh: GI_BIN_LABELS[k] for k, zh in stats.GI_BIN_LABELS_ZH.items()}
_EMERGING_BY_ZH = {zh: EMERGING_LABELS[k] for k, zh in stats.EMERGING_LABELS_ZH.items()}


def patrol_rows(patrol):
    """Put the patrol priorities' levels and class labels in the user's language."""
    for worker in patrol:
        for grid in worker["grids"]:
            grid["priority"], grid["level"] = PATROL_LEVELS.get(grid["level"], (3, grid["level"]))
            grid["gi_label"] = _GI_BY_ZH.get(grid["gi_label"], grid["gi_label"])
            grid["emerging_label"] = _EMERGING_BY_ZH.get(
                grid["emerging_label"], grid["emerging_label"]
            )
    return patrol


def formula_text(weights):
    """Return the risk index formula in the user's language (stats.formula_text in zh)."""
    terms = " + ".join(
        f"{weight:g} × {RISK_LABELS.get(name, name)}′" for name, weight in weights.items()
    )
    return _(
        "Risk index = %(terms)s\n"
        "where x′ = (x − minimum) / (maximum − minimum) is the indicator’s min–max "
        "normalised value among the grids (0 to 1); an indicator with the same value in "
        "every grid counts 0."
    ) % {"terms": terms}


def cards(result):
    frame = result["grids"]
    return [
        (_("Number of grids"), len(frame)),
        (_("Number of cases"), int(frame["cases"].sum())),
        (_("Hot spot grids"), int((frame["gi_bin"] > 0).sum())),
        (_("Cold spot grids"), int((frame["gi_bin"] < 0).sum())),
        (LISA_LABELS["HH"], int((frame["lisa_cluster"] == "HH").sum())),
        (
            _("New, intensifying or persistent hot spots"),
            int(frame["emerging"].isin([1, 2, 3, 4]).sum()),
        ),
    ]


def drill_rows(request, result, area):
    """Return the sub-areas of the area (streets, communities or grids) with links."""
    frame = result["grids"]
    if area.kind == "street" or (area.kind == "scope" and frame["street_id"].nunique() == 1):
        level = (
            "community" if area.kind == "street" or frame["community_id"].nunique() > 1 else "grid"
        )
    elif area.kind == "community":
        level = "grid"
    else:
        level = "street" if frame["street_id"].nunique() > 1 else "grid"
    if level == "street":
        table = result["streets"]
        rows = [
            {
                "name": row["street"],
                "link": link(request, street=int(sid), community=None, grid=None),
                **_area_numbers(row),
            }
            for sid, row in table.iterrows()
        ]
    elif level == "community":
        table = result["communities"].sort_index()
        rows = [
            {
                "name": row["community"],
                "link": link(request, community=int(cid), grid=None),
                **_area_numbers(row),
            }
            for cid, row in table.iterrows()
        ]
    else:
        rows = [
            {
                "name": row["name"],
                "link": link(request, grid=int(gid)),
                "grids": 1,
                "hot_grids": int(row["gi_bin"] > 0),
                **_area_numbers(row, grid=True),
            }
            for gid, row in frame.sort_values("code").iterrows()
        ]
    trail = []
    for kind, obj_id, name in area.trail:
        if kind == "scope":
            url = link(request, street=None, community=None, grid=None)
        elif kind == "street":
            url = link(request, street=obj_id, community=None, grid=None)
        else:
            url = link(request, community=obj_id, grid=None)
        trail.append({"name": name, "link": url})
    return {
        "level": level,
        "label": {"street": _("Street"), "community": _("Community"), "grid": _("Grid")}[level],
        "rows": rows,
        "trail": trail,
    }


def _area_numbers(row, grid=False):
    out = {
        "cases": int(row["cases"]),
        "population": int(row["population"]),
        "rate": None if pd.isna(row["case_rate_per_1000"]) else row["case_rate_per_1000"],
        "rentals": int(row["rentals"]),
        "overdue_share": None if pd.isna(row["overdue_share"]) else row["overdue_share"],
    }
    if not grid:
        out["grids"] = int(row["grids"])
        out["hot_grids"] = int(row.get("hot_grids", 0) or 0)
    return out


def _compare_rows(result):
    compare = result.get("compare")
    if compare is None:
        return None
    changed = compare[(compare["change"] != 0) | (compare["status"] != "")]
    order = changed.assign(abs_change=changed["change"].abs()).sort_values(
        ["abs_change"], ascending=False
    )
    return labelled(table_rows(order.head(30).drop(columns="abs_change")))


def _grid_detail(request, form, frame):
    gid = form.cleaned_data.get("grid")
    if gid is None:
        return None
    if gid not in frame.index:
        return {"missing": True}
    row = frame.loc[gid]
    items = [
        (INDICATOR_LABELS.get(key, label), row[key])
        for key, label in INDICATOR_LABELS_ZH.items()
        if key in row.index
    ]
    return {
        "id": gid,
        "name": row["name"],
        "code": row["code"],
        "community": row["community"],
        "items": [(label, None if pd.isna(v) else v) for label, v in items],
        "gi_label": GI_BIN_LABELS[int(row["gi_bin"])],
        "gi_z": None if pd.isna(row["gi_z"]) else row["gi_z"],
        "lisa_label": LISA_LABELS.get(row["lisa_cluster"], row["lisa_label"]),
        "emerging_label": EMERGING_LABELS[int(row["emerging"])],
        "risk_index": row["risk_index"],
        "back": link(request, grid=None),
    }


def chart_data(result, grid_id=None):
    """Return the data of the Chart.js charts (serialised with json_script)."""
    frame = result["grids"]
    weekly = result["weekly"]
    gi_counts = frame["gi_bin"].value_counts()
    emerging_counts = frame.loc[frame["emerging"] != 0, "emerging"].value_counts()
    top = frame.sort_values("cases", ascending=False).head(15)
    communities = result["communities"].head(15)
    out = {
        "gi": {
            "labels": [str(GI_BIN_LABELS[k]) for k in range(3, -4, -1)],
            "values": [int(gi_counts.get(k, 0)) for k in range(3, -4, -1)],
            "colours": [service.GI_COLOURS[k] for k in range(3, -4, -1)],
        },
        "emerging": {
            "labels": [str(EMERGING_LABELS[int(k)]) for k in emerging_counts.index],
            "values": [int(v) for v in emerging_counts.to_numpy()],
            "colours": [service.EMERGING_COLOURS[int(k)] for k in emerging_counts.index],
        },
        "weekly": {
            "labels": [f"{w:%m-%d}" for w in weekly.columns],
            "values": [float(v) for v in weekly.sum(axis=0).to_numpy()],
            "series": _("Number of cases"),
        },
        "top": {
            "labels": list(top["name"]),
            "values": [float(v) for v in top["cases"]],
            "colours": [service.GI_COLOURS[int(b)] for b in top["gi_bin"]],
        },
        "risk": {
            "labels": list(communities["community"]),
            "values": [round(float(v), 4) for v in communities["risk_index"].fillna(0)],
        },
    }
    compare = result.get("compare")
    if compare is not None:
        biggest = compare.reindex(compare["change"].abs().sort_values(ascending=False).index)
        biggest = biggest.head(15)
        out["compare"] = {
            "labels": list(biggest["name"]),
            "current": [float(v) for v in biggest["cases"]],
            "before": [float(v) for v in biggest["cases_before"]],
            "series": [_("This period"), _("Comparison period")],
        }
    if grid_id is not None and grid_id in weekly.index:
        out["grid"] = {
            "label": str(frame.loc[grid_id, "name"]),
            "values": [float(v) for v in weekly.loc[grid_id].to_numpy()],
        }
    return out


def legend(result, layer):
    """Return [(colour, label, count)] for the map legend of the layer."""
    frame = result["grids"]
    if layer == "gi":
        counts = frame["gi_bin"].value_counts()
        return [
            (service.GI_COLOURS[k], str(GI_BIN_LABELS[k]), int(counts.get(k, 0)))
            for k in range(3, -4, -1)
        ]
    if layer == "lisa":
        counts = frame["lisa_cluster"].value_counts()
        return [
            (service.LISA_COLOURS[k], str(LISA_LABELS[k]), int(counts.get(k, 0)))
            for k in ("HH", "HL", "LH", "LL", "NS")
        ]
    if layer == "emerging":
        counts = frame["emerging"].value_counts()
        keys = [k for k in stats.EMERGING_LABELS_ZH if counts.get(k, 0) or k == 0]
        return [
            (service.EMERGING_COLOURS[k], str(EMERGING_LABELS[k]), int(counts.get(k, 0)))
            for k in keys
        ]
    if layer == "risk":
        return [
            (colour, _("%(low)s–%(high)s percentile") % {"low": k * 20, "high": (k + 1) * 20}, None)
            for k, colour in enumerate(service.RISK_RAMP)
        ]
    kde = result.get("kde")
    if not kde:
        return [("#ffffff", _("No cases in the period"), None)]
    return [
        ("#fed976", _("Low density"), None),
        ("#fd8d3c", _("Medium density"), None),
        (
            "#bd0026",
            _("High density (≥ %(density)s cases per km²)")
            % {"density": f"{kde['scale_max']:.0f}"},
            None,
        ),
    ]


# ---------------------------------------------------------------------------
# Map
# ---------------------------------------------------------------------------


def grid_styles(result, layer):
    """Return {grid id: (fill colour, class label)} for the layer."""
    frame = result["grids"]
    if layer == "gi":
        labels = {k: str(v) for k, v in GI_BIN_LABELS.items()}
        return {
            gid: (service.GI_COLOURS[int(b)], labels[int(b)])
            for gid, b in zip(frame.index, frame["gi_bin"], strict=True)
        }
    if layer == "lisa":
        labels = {k: str(v) for k, v in LISA_LABELS.items()}
        return {
            gid: (service.LISA_COLOURS.get(c, "#f0f0f0"), labels.get(c, label))
            for gid, c, label in zip(
                frame.index, frame["lisa_cluster"], frame["lisa_label"], strict=True
            )
        }
    if layer == "emerging":
        labels = {k: str(v) for k, v in EMERGING_LABELS.items()}
        return {
            gid: (service.EMERGING_COLOURS[int(c)], labels[int(c)])
            for gid, c in zip(frame.index, frame["emerging"], strict=True)
        }
    if layer == "risk":
        ranks = frame["risk_index"].rank(pct=True).fillna(0)
        known, unknown = _("Risk index %(value)s"), _("Risk index —")
        return {
            gid: (
                service.RISK_RAMP[min(int(r * 5), 4)],
                known % {"value": f"{v:.3f}"} if pd.notna(v) else unknown,
            )
            for gid, r, v in zip(frame.index, ranks, frame["risk_index"], strict=True)
        }
    return {gid: ("#ffffff", "") for gid in frame.index}


def grid_features(grid_ids):
    """Return the grids' simplified GeoJSON, cached per grid layer version."""
    from django.core.cache import cache

    from layers.sql import area_feature_collection

    key = f"hotspots:features:{service.grid_layer_version()}:{service._digest(tuple(grid_ids))}"
    collection = cache.get(key)
    if collection is None:
        collection = area_feature_collection("grid", ids=list(grid_ids))
        cache.set(key, collection, service.CACHE_TIMEOUT)
    return collection


GRID_DATA_ID = "hs-grid-data"


def build_map(result, layer, grid_ids):
    """Return the folium map parts: grids coloured by class, or the KDE heat surface."""
    from gridmap import maps

    frame = result["grids"]
    base = grid_features(list(frame.index))
    styles = grid_styles(result, layer)
    cases = frame["cases"].to_dict()
    names = frame["name"].to_dict()
    communities = frame["community"].to_dict()
    features = []
    # The tooltip's lines are text (maps.DataLayer shows them with textContent).
    where = _("%(name)s (%(community)s)")
    counts = {}
    for feature in base["features"]:
        gid = feature["properties"]["id"]
        colour, label = styles.get(gid, ("#ffffff", ""))
        n = int(cases.get(gid, 0))
        if n not in counts:
            counts[n] = ngettext("%(count)s case", "%(count)s cases", n) % {"count": n}
        place = where % {"name": names.get(gid, ""), "community": communities.get(gid, "")}
        features.append(
            {
                "type": "Feature",
                "geometry": feature["geometry"],
                "properties": {"id": gid, "s": colour, "t": [place, counts[n], label]},
            }
        )
    bounds = None
    if base.get("bbox"):
        w, s, e, n = base["bbox"]
        bounds = [[s, w], [n, e]]
    fmap = maps.base_map(bounds=bounds)
    kde = layer == "kde"
    if kde and result.get("kde"):
        folium.raster_layers.ImageOverlay(
            image=result["kde"]["rgba"],
            bounds=result["kde"]["bounds"],
            name=str(LAYER_LABELS["kde"]),
            opacity=0.85,
            mercator_project=True,
            pixelated=False,
        ).add_to(fmap)
    # The grids' data is a JSON element of the page (maps.DataLayer), styled by class
    # colour; a click on a grid opens its details (?grid=<id>).
    maps.DataLayer(
        {"type": "FeatureCollection", "features": features},
        data_id=GRID_DATA_ID,
        style={"color": "#666", "weight": 0.7, "fillOpacity": 0.0 if kde else 0.75},
        styles={c: {"fillColor": c} for c in {"#ffffff", *(c for c, _l in styles.values())}},
        tooltip={"sticky": True},
        link="grid",
        control=False,
    ).add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    return maps.parts(fmap)
