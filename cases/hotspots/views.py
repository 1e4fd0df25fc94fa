"""The hotspot analysis page (分析研判) and its data and report exports.

Views only parse, authorise (login + area scope via cases.hotspots.service.resolve_area,
which uses accounts.scoping), call the service and render. Bad parameters answer 400
with the reasons in Chinese, never a 500.
"""

import json
import logging
from html import escape

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from jinja2 import Template

from cases.hotspots import service, stats
from cases.hotspots.forms import LAYERS, VARIABLES, HotspotQueryForm
from cases.hotspots.indicators import INDICATOR_LABELS_ZH

log = logging.getLogger(__name__)

TEMPLATE = "hotspots/page.html"


class QueryError(Exception):
    """The request cannot be analysed; ``messages`` say why, in Chinese."""

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
        raise QueryError([str(exc)], form, status=403 if "权限" in str(exc) else 400) from exc
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
        raise QueryError([f"无法完成分析：{exc}"], form) from exc
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
            "layer_label": dict(LAYERS)[layer],
            "variable_label": dict(VARIABLES)[query.variable],
            "map": build_map(result, layer, area.grid_ids),
            "legend": legend(result, layer),
            "cards": cards(result),
            "hot_rows": table_rows(
                frame[frame["gi_bin"] != 0].sort_values("gi_z", ascending=False)
            ),
            "emerging_rows": table_rows(
                frame[frame["emerging"] != 0].sort_values(["emerging", "gi_z"], ascending=False)
            ),
            "lisa_rows": table_rows(
                frame[frame["lisa_cluster"] != "NS"].sort_values("lisa_i", ascending=False)
            ),
            "risk_rows": table_rows(frame.sort_values("risk_index", ascending=False).head(20)),
            "community_rows": table_rows(result["communities"]),
            "drill": drill_rows(request, result, area),
            "patrol": service.patrol_priorities(frame),
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
        (f"w_{name}", label, f"{result['weights'][name]:g}")
        for name, label in stats.RISK_INDICATORS.items()
    ]
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

    content = report.workbook(
        area=area, query=query, result=result, patrol=service.patrol_priorities(result["grids"])
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
        "layers": LAYERS,
        "variables": VARIABLES,
        "categories": Category.objects.filter(active=True).order_by("order", "code"),
        "sources": Source.choices,
        "values": request.GET.dict(),
        "weight_inputs": [
            (f"w_{name}", label, request.GET.get(f"w_{name}", ""))
            for name, label in stats.RISK_INDICATORS.items()
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


def cards(result):
    frame = result["grids"]
    return [
        ("网格数", len(frame)),
        ("案件数", int(frame["cases"].sum())),
        ("热点网格", int((frame["gi_bin"] > 0).sum())),
        ("冷点网格", int((frame["gi_bin"] < 0).sum())),
        ("高-高聚集", int((frame["lisa_cluster"] == "HH").sum())),
        ("新增/加强/持续热点", int(frame["emerging"].isin([1, 2, 3, 4]).sum())),
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
        "label": {"street": "街道", "community": "社区", "grid": "网格"}[level],
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
    return table_rows(order.head(30).drop(columns="abs_change"))


def _grid_detail(request, form, frame):
    gid = form.cleaned_data.get("grid")
    if gid is None:
        return None
    if gid not in frame.index:
        return {"missing": True}
    row = frame.loc[gid]
    items = [(label, row[key]) for key, label in INDICATOR_LABELS_ZH.items() if key in row.index]
    return {
        "id": gid,
        "name": row["name"],
        "code": row["code"],
        "community": row["community"],
        "items": [(label, None if pd.isna(v) else v) for label, v in items],
        "gi_label": row["gi_label"],
        "gi_z": None if pd.isna(row["gi_z"]) else row["gi_z"],
        "lisa_label": row["lisa_label"],
        "emerging_label": row["emerging_label"],
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
            "labels": [stats.GI_BIN_LABELS_ZH[k] for k in range(3, -4, -1)],
            "values": [int(gi_counts.get(k, 0)) for k in range(3, -4, -1)],
            "colours": [service.GI_COLOURS[k] for k in range(3, -4, -1)],
        },
        "emerging": {
            "labels": [stats.EMERGING_LABELS_ZH[int(k)] for k in emerging_counts.index],
            "values": [int(v) for v in emerging_counts.to_numpy()],
            "colours": [service.EMERGING_COLOURS[int(k)] for k in emerging_counts.index],
        },
        "weekly": {
            "labels": [f"{w:%m-%d}" for w in weekly.columns],
            "values": [float(v) for v in weekly.sum(axis=0).to_numpy()],
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
            (service.GI_COLOURS[k], stats.GI_BIN_LABELS_ZH[k], int(counts.get(k, 0)))
            for k in range(3, -4, -1)
        ]
    if layer == "lisa":
        counts = frame["lisa_cluster"].value_counts()
        return [
            (service.LISA_COLOURS[k], stats.LISA_LABELS_ZH[k], int(counts.get(k, 0)))
            for k in ("HH", "HL", "LH", "LL", "NS")
        ]
    if layer == "emerging":
        counts = frame["emerging"].value_counts()
        keys = [k for k in stats.EMERGING_LABELS_ZH if counts.get(k, 0) or k == 0]
        return [
            (service.EMERGING_COLOURS[k], stats.EMERGING_LABELS_ZH[k], int(counts.get(k, 0)))
            for k in keys
        ]
    if layer == "risk":
        return [
            (colour, f"{k * 20}–{(k + 1) * 20} %分位", None)
            for k, colour in enumerate(service.RISK_RAMP)
        ]
    kde = result.get("kde")
    if not kde:
        return [("#ffffff", "统计期内没有案件", None)]
    return [
        ("#fed976", "低密度", None),
        ("#fd8d3c", "中密度", None),
        ("#bd0026", f"高密度（≥ {kde['scale_max']:.0f} 件/平方千米）", None),
    ]


# ---------------------------------------------------------------------------
# Map
# ---------------------------------------------------------------------------


def grid_styles(result, layer):
    """Return {grid id: (fill colour, class label)} for the layer."""
    frame = result["grids"]
    if layer == "gi":
        return {
            gid: (service.GI_COLOURS[int(b)], label)
            for gid, b, label in zip(frame.index, frame["gi_bin"], frame["gi_label"], strict=True)
        }
    if layer == "lisa":
        return {
            gid: (service.LISA_COLOURS.get(c, "#f0f0f0"), label)
            for gid, c, label in zip(
                frame.index, frame["lisa_cluster"], frame["lisa_label"], strict=True
            )
        }
    if layer == "emerging":
        return {
            gid: (service.EMERGING_COLOURS[int(c)], label)
            for gid, c, label in zip(
                frame.index, frame["emerging"], frame["emerging_label"], strict=True
            )
        }
    if layer == "risk":
        ranks = frame["risk_index"].rank(pct=True).fillna(0)
        return {
            gid: (
                service.RISK_RAMP[min(int(r * 5), 4)],
                f"风险指数 {v:.3f}" if pd.notna(v) else "风险指数 —",
            )
            for gid, r, v in zip(frame.index, ranks, frame["risk_index"], strict=True)
        }
    return {gid: ("#ffffff", "") for gid in frame.index}


class GridClassLayer(MacroElement):
    """The grids as one Leaflet GeoJSON layer, styled from each feature's properties.

    folium.GeoJson with a style_function serialises a style per feature, and folium
    compiles every rendered script as a jinja template: 10,000 grids made 3 MB that
    jinja lexed. Here the features come from a ``<script type="application/json">``
    element of the page (id ``data_id``, see build_map) and carry only their
    fill colour (f) and escaped tooltip (t); a click opens the grid's details.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.geoJson(
  JSON.parse(document.getElementById({{ this.data_id|tojson }}).textContent), {
  style: function (f) {
    return {color: "#666", weight: 0.7, fillColor: f.properties.f,
            fillOpacity: {{ this.opacity }}};
  },
  onEachFeature: function (f, layer) {
    layer.bindTooltip(f.properties.t, {sticky: true});
    layer.on("click", function () {
      var params = new URLSearchParams(window.location.search);
      params.set("grid", f.properties.id);
      window.location.search = params.toString();
    });
  }
}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self, data_id, opacity):
        super().__init__()
        self._name = "GridClassLayer"
        self.data_id = data_id
        self.opacity = float(opacity)


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
    for feature in base["features"]:
        gid = feature["properties"]["id"]
        colour, label = styles.get(gid, ("#ffffff", ""))
        tooltip = (
            f"{escape(names.get(gid, ''))}（{escape(communities.get(gid, ''))}）"
            f"<br>案件 {int(cases.get(gid, 0))} 件<br>{escape(label)}"
        )
        features.append(
            {
                "type": "Feature",
                "geometry": feature["geometry"],
                "properties": {"id": gid, "f": colour, "t": tooltip},
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
            name="案件核密度",
            opacity=0.85,
            mercator_project=True,
            pixelated=False,
        ).add_to(fmap)
    GridClassLayer(GRID_DATA_ID, 0.0 if kde else 0.75).add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    parts = maps.parts(fmap)
    # Written by the page into <script type="application/json">, before the map's script.
    # Escaped like Django's json_script (<, >, & as \\u escapes), but str.replace on a
    # few MB is ~50× faster than json_script's str.translate.
    text = json.dumps(
        {"type": "FeatureCollection", "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    parts["grids_json"] = (
        text.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")
    )
    return parts
