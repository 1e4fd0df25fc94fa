"""Run hotspot analyses for an area: indicators, Gi*, Local Moran, KDE, emerging hot spots.

Two caches (Django's cache):

- contiguity weights per *version of the grid layer* (count, newest id, newest
  valid_from/valid_to of layers_grid) and set of grids: redrawing a grid makes a new
  version, so stale weights are never used;
- results per *query* (grids, period, filters, variable) and *data version* (count,
  newest id and update time of cases, persons and rental houses): a new or changed case
  makes a new key. The risk index (cheap, weights edited by the analyst) and the patrol
  lists (grid workers change) are computed on top of the cached results.
"""

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from cases.hotspots import indicators, sql, stats
from cases.hotspots.indicators import Period

log = logging.getLogger(__name__)

CACHE_TIMEOUT = 6 * 3600
PERMUTATIONS = 999
MIN_GRIDS = 3
# Counts of cache hits and misses in this process, for the page footer and the bench.
CACHE_STATS = Counter()

GI_COLOURS = {
    3: "#b2182b",
    2: "#ef8a62",
    1: "#fddbc7",
    0: "#f7f7f7",
    -1: "#d1e5f0",
    -2: "#67a9cf",
    -3: "#2166ac",
}
LISA_COLOURS = {"HH": "#d7191c", "HL": "#fdae61", "LH": "#abd9e9", "LL": "#2c7bb6", "NS": "#f0f0f0"}
EMERGING_COLOURS = {
    1: "#fee5d9",
    2: "#fcbba1",
    3: "#de2d26",
    4: "#a50f15",
    5: "#fb6a4a",
    6: "#fc9272",
    7: "#e7298a",
    8: "#bcbddc",
    0: "#f7f7f7",
    -1: "#eff3ff",
    -2: "#c6dbef",
    -3: "#3182bd",
    -4: "#08519c",
    -5: "#6baed6",
    -6: "#9ecae1",
    -7: "#756bb1",
    -8: "#dadaeb",
}
RISK_RAMP = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"]


class AnalysisError(ValueError):
    """A query that cannot be analysed; the message is for the user, in the active language.

    ``forbidden`` marks a request for an area outside the user's scope (HTTP 403).
    """

    def __init__(self, message, *, forbidden=False):
        super().__init__(message)
        self.forbidden = forbidden


@dataclass(frozen=True)
class Query:
    """What to analyse: a period, filters and the variable of Gi* and Local Moran."""

    period: Period
    compare: Period | None = None
    category_id: int | None = None
    source: str = ""
    variable: str = "cases"
    weights: dict = field(default_factory=dict)

    def core_key(self, period):
        return (period.start, period.end, self.category_id, self.source, self.variable)


def _digest(value):
    return hashlib.sha1(repr(value).encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------
# Area
# ---------------------------------------------------------------------------


@dataclass
class Area:
    """The area analysed: the user's whole area, or a street or community within it."""

    kind: str  # "scope", "street" or "community"
    obj: object
    grid_ids: list
    trail: list  # [(kind, id or None, name)] from the top of the user's area down

    @property
    def name(self):
        return self.trail[-1][2]


def resolve_area(user, *, street_id=None, community_id=None):
    """Return the Area the user asked for, within his scope, or raise AnalysisError."""
    from accounts.scoping import scope
    from layers.models import Community, Grid, Street

    grids = scope(user, Grid.objects.current())
    top = _scope_name(user)
    trail = [("scope", None, top)]
    kind, obj = "scope", None
    if community_id is not None:
        obj = scope(user, Community.objects.select_related("street")).filter(pk=community_id)
        obj = obj.first()
        if obj is None:
            raise AnalysisError(
                _("The selected community does not exist or is outside your area."),
                forbidden=True,
            )
        if street_id is not None and obj.street_id != street_id:
            raise AnalysisError(_("The selected community is not in the selected street."))
        if top != obj.street.name and top != obj.name:
            trail.append(("street", obj.street_id, obj.street.name))
        if top != obj.name:
            trail.append(("community", obj.pk, obj.name))
        kind = "community"
        grids = grids.filter(community_id=obj.pk)
    elif street_id is not None:
        obj = scope(user, Street.objects.all()).filter(pk=street_id).first()
        if obj is None:
            raise AnalysisError(
                _("The selected street does not exist or is outside your area."),
                forbidden=True,
            )
        if top != obj.name:
            trail.append(("street", obj.pk, obj.name))
        kind = "street"
        grids = grids.filter(community__street_id=obj.pk)
    ids = list(grids.order_by("id").values_list("id", flat=True))
    if not ids:
        raise AnalysisError(_("Your account has no grids to analyse in the selected area."))
    return Area(kind=kind, obj=obj, grid_ids=ids, trail=trail)


def _scope_name(user):
    from accounts.models import Role

    if user.is_superuser or user.role == Role.ADMIN:
        return "全部区域"
    if user.role == Role.STREET and user.street_id:
        return user.street.name
    if user.role == Role.COMMUNITY and user.community_id:
        return user.community.name
    if user.role == Role.GRID_WORKER:
        return "我的网格"
    return user.district.name if user.district_id else "我的区域"


# ---------------------------------------------------------------------------
# Versions and weights
# ---------------------------------------------------------------------------


def grid_layer_version():
    """Return the version of the grid layer (changes when a grid is added or redrawn)."""
    return _digest(sql.grid_layer_stamp())


def data_version():
    """Return the version of the analysed data (cases, persons, rental houses)."""
    return _digest(sql.data_stamp())


def weights_for(grid_ids, *, layer_version=None):
    """Return the queen-contiguity weights of the grids, cached per grid layer version."""
    import shapely

    layer_version = layer_version or grid_layer_version()
    key = f"hotspots:weights:{layer_version}:{_digest(tuple(grid_ids))}"
    graph = cache.get(key)
    if graph is not None:
        CACHE_STATS["weights_hit"] += 1
        return graph
    CACHE_STATS["weights_miss"] += 1
    rows = sql.grid_geometries(grid_ids=grid_ids)
    geoms = shapely.from_wkb([wkb for _, wkb in rows])
    graph = stats.contiguity_weights(geoms, ids=[gid for gid, _ in rows])
    cache.set(key, graph, CACHE_TIMEOUT)
    return graph


# ---------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------


def analyse(*, area, query):
    """Return the analysis of the area (a dict of frames and notes), cached.

    Keys: grids (indicators and statistics per grid), communities and streets
    (indicators summed, risk index of communities), weekly (grid × week cube),
    kde (heat surface as an RGBA image with lat/lon bounds, or None), compare (the
    comparison period's counts and Gi* classes per grid, or None), notes, summary,
    formula, versions, timings.
    """
    started = time.perf_counter()
    layer_version = grid_layer_version()
    data_ver = data_version()
    core = _cached_core(area.grid_ids, query, query.period, layer_version, data_ver)
    result = dict(core)
    result["grids"] = core["grids"].copy()
    result["notes"] = list(core["notes"])
    result["compare"] = None
    if query.compare is not None:
        other = _cached_core(area.grid_ids, query, query.compare, layer_version, data_ver)
        result["compare"] = _comparison(core["grids"], other["grids"])
    _add_risk(result, query.weights)
    result["versions"] = {"grid_layer": layer_version, "data": data_ver}
    result["seconds"] = time.perf_counter() - started
    return result


def _cached_core(grid_ids, query, period, layer_version, data_ver):
    key = "hotspots:result:" + _digest(
        (tuple(grid_ids), query.core_key(period), layer_version, data_ver)
    )
    core = cache.get(key)
    if core is not None:
        CACHE_STATS["result_hit"] += 1
        core["cached"] = True
        return core
    CACHE_STATS["result_miss"] += 1
    core = _compute_core(grid_ids, query, period, layer_version)
    cache.set(key, core, CACHE_TIMEOUT)
    core["cached"] = False
    return core


def _compute_core(grid_ids, query, period, layer_version):
    timings = {}
    notes = []
    tick = time.perf_counter()
    frame = indicators.grid_indicators(
        grid_ids=grid_ids, period=period, category_id=query.category_id, source=query.source
    )
    timings["indicators"] = time.perf_counter() - tick
    # Grids retired since the scope was read drop out here: analyse what exists.
    ids = list(frame.index)
    frame["gi_z"] = np.nan
    frame["gi_p"] = np.nan
    frame["gi_p_sim"] = np.nan
    frame["gi_q"] = np.nan
    frame["gi_bin"] = 0
    frame["lisa_i"] = np.nan
    frame["lisa_p"] = np.nan
    frame["lisa_cluster"] = "NS"
    frame["emerging"] = 0
    frame["emerging_n_hot"] = 0
    frame["emerging_trend_z"] = np.nan
    frame["emerging_trend_p"] = np.nan

    tick = time.perf_counter()
    cube = indicators.weekly_cube(
        grid_ids=ids, period=period, category_id=query.category_id, source=query.source
    )
    timings["cube"] = time.perf_counter() - tick

    values = frame[query.variable].astype(float)
    if query.variable == "case_rate_per_1000" and values.isna().any():
        notes.append(
            f"{int(values.isna().sum())} 个网格没有实有人口，无法计算发生率，按 0 参与热点分析。"
        )
    values = values.fillna(0.0)
    if len(ids) < MIN_GRIDS:
        notes.append(f"区域内只有 {len(ids)} 个网格，至少需要 {MIN_GRIDS} 个才能做热点分析。")
    elif values.std() == 0:
        notes.append("各网格的分析变量取值相同（例如没有案件），不存在热点或冷点。")
    else:
        tick = time.perf_counter()
        graph = weights_for(ids, layer_version=layer_version)
        timings["weights"] = time.perf_counter() - tick
        tick = time.perf_counter()
        gi = stats.getis_ord_gi_star(values, graph, permutations=PERMUTATIONS)
        frame["gi_z"] = gi["z"]
        frame["gi_p"] = gi["p_norm"]
        frame["gi_p_sim"] = gi["p_sim"]
        frame["gi_q"] = gi["q"]
        frame["gi_bin"] = gi["gi_bin"].astype(int)
        timings["gi_star"] = time.perf_counter() - tick
        tick = time.perf_counter()
        lisa = stats.local_moran(values, graph, permutations=PERMUTATIONS)
        frame["lisa_i"] = lisa["i"]
        frame["lisa_p"] = lisa["p_sim"]
        frame["lisa_cluster"] = lisa["cluster"].fillna("NS")
        timings["local_moran"] = time.perf_counter() - tick
        # A week cut by the period's start or end has fewer cases only because it is
        # short; the trend test would read that as a change. Use whole weeks only.
        whole = [
            w for w in cube.columns if w >= period.start and w + timedelta(days=6) <= period.end
        ]
        if len(whole) < 3:
            notes.append("时空热点分析至少需要 3 个完整的自然周，请选择更长的统计期。")
        elif cube[whole].to_numpy().sum() == 0:
            notes.append("统计期内没有案件，无法做时空热点分析。")
        else:
            if len(whole) < cube.shape[1]:
                notes.append(
                    f"时空热点分析只用统计期内完整的 {len(whole)} 个自然周"
                    f"（{whole[0]:%Y-%m-%d} 至 {whole[-1] + timedelta(days=6):%Y-%m-%d}）。"
                )
            tick = time.perf_counter()
            emerging = stats.emerging_hot_spots(cube[whole], graph)
            frame["emerging"] = emerging["category"].astype(int)
            frame["emerging_n_hot"] = emerging["n_hot"].astype(int)
            frame["emerging_trend_z"] = emerging["trend_z"]
            frame["emerging_trend_p"] = emerging["trend_p"]
            timings["emerging"] = time.perf_counter() - tick
    frame["gi_label"] = frame["gi_bin"].map(stats.GI_BIN_LABELS_ZH)
    frame["lisa_label"] = frame["lisa_cluster"].map(stats.LISA_LABELS_ZH)
    frame["emerging_label"] = frame["emerging"].map(stats.EMERGING_LABELS_ZH)

    tick = time.perf_counter()
    kde = _kde(grid_ids=ids, period=period, query=query)
    timings["kde"] = time.perf_counter() - tick
    return {
        "period": period,
        "grids": frame,
        "weekly": cube,
        "kde": kde,
        "notes": notes,
        "timings": timings,
        "summary": {
            "gi": frame["gi_bin"].value_counts().to_dict(),
            "lisa": frame["lisa_cluster"].value_counts().to_dict(),
            "emerging": frame["emerging"].value_counts().to_dict(),
        },
    }


def _comparison(current, previous):
    """Return per-grid counts and Gi* classes of both periods and their change."""
    out = pd.DataFrame(
        {
            "code": current["code"],
            "name": current["name"],
            "community": current["community"],
            "cases": current["cases"],
            "cases_before": previous["cases"].reindex(current.index).fillna(0.0),
            "gi_bin": current["gi_bin"],
            "gi_bin_before": previous["gi_bin"].reindex(current.index).fillna(0).astype(int),
        }
    )
    out["gi_label"] = out["gi_bin"].map(stats.GI_BIN_LABELS_ZH)
    out["gi_label_before"] = out["gi_bin_before"].map(stats.GI_BIN_LABELS_ZH)
    out["change"] = out["cases"] - out["cases_before"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["change_pct"] = np.where(
            out["cases_before"] > 0, out["change"] * 100.0 / out["cases_before"], np.nan
        )
    now_hot, was_hot = out["gi_bin"] > 0, out["gi_bin_before"] > 0
    out["status"] = np.select(
        [now_hot & ~was_hot, ~now_hot & was_hot, now_hot & was_hot],
        ["新出现热点", "热点消失", "持续热点"],
        default="",
    )
    return out


def _add_risk(result, weights):
    """Add the risk index to the grids and communities of a result (not cached)."""
    weights = weights or {}
    frame = result["grids"]
    columns = list(stats.RISK_INDICATORS)
    result["weights"] = dict(weights)
    result["formula"] = stats.formula_text(weights)
    frame["risk_index"] = stats.risk_index(frame[columns].fillna(0.0), weights)
    communities = indicators.aggregate(frame, "community")
    communities["hot_grids"] = frame[frame["gi_bin"] > 0].groupby("community_id").size()
    communities["hot_grids"] = communities["hot_grids"].fillna(0).astype(int)
    communities["risk_index"] = stats.risk_index(communities[columns].fillna(0.0), weights)
    result["communities"] = communities.sort_values("risk_index", ascending=False)
    streets = indicators.aggregate(frame, "street")
    streets["hot_grids"] = frame[frame["gi_bin"] > 0].groupby("street_id").size()
    streets["hot_grids"] = streets["hot_grids"].fillna(0).astype(int)
    result["streets"] = streets


# ---------------------------------------------------------------------------
# Kernel density
# ---------------------------------------------------------------------------

_KDE_STOPS = np.array(
    [
        [0.00, 255, 255, 178, 0],
        [0.15, 254, 217, 118, 120],
        [0.40, 253, 141, 60, 170],
        [0.70, 240, 59, 32, 200],
        [1.00, 189, 0, 38, 225],
    ]
)


def _kde(*, grid_ids, period, query):
    """Return the case heat surface as an RGBA image on a lon/lat raster, or None."""
    from pyproj import Transformer

    extent = sql.grid_extent(grid_ids=grid_ids, srid=settings.METRIC_SRID)
    lonlat = sql.grid_extent(grid_ids=grid_ids, srid=settings.STORAGE_SRID)
    if extent is None:
        return None
    xmin, ymin, xmax, ymax = extent
    span = max(xmax - xmin, ymax - ymin, 1.0)
    cell = max(10.0, span / 250.0)
    bandwidth = max(4.0 * cell, 300.0)
    points, counts = indicators.case_bins(
        grid_ids=grid_ids,
        period=period,
        xmin=xmin,
        ymax=ymax,
        cell=cell,
        category_id=query.category_id,
        source=query.source,
    )
    if len(points) == 0:
        return None
    raster = stats.kernel_density(points, extent, cell, bandwidth, weights=counts)
    # Resample to a regular lon/lat raster (what Leaflet and the PDF expect).
    w, s, e, n = lonlat
    rows, cols = raster.values.shape
    lons = w + (np.arange(cols) + 0.5) * (e - w) / cols
    lats = n - (np.arange(rows) + 0.5) * (n - s) / rows
    lon_grid, lat_grid = np.meshgrid(lons, lats)
    to_metric = Transformer.from_crs(settings.STORAGE_SRID, settings.METRIC_SRID, always_xy=True)
    x, y = to_metric.transform(lon_grid, lat_grid)
    col = np.clip(((x - xmin) / cell).astype(int), 0, cols - 1)
    row = np.clip(((raster.bounds[3] - y) / cell).astype(int), 0, rows - 1)
    values = raster.values[row, col]
    top = float(np.percentile(values[values > 0], 99)) if (values > 0).any() else 0.0
    return {
        "rgba": _colourise(values, top),
        "bounds": [[s, w], [n, e]],
        "max": float(raster.values.max()),
        "scale_max": top,
        "cell": cell,
        "bandwidth": bandwidth,
        "points": int(counts.sum()),
    }


def _colourise(values, top):
    """Return an RGBA uint8 image of densities, transparent where there is none."""
    if top <= 0:
        return np.zeros(values.shape + (4,), dtype=np.uint8)
    t = np.clip(values / top, 0.0, 1.0)
    rgba = np.stack(
        [np.interp(t, _KDE_STOPS[:, 0], _KDE_STOPS[:, k]) for k in range(1, 5)], axis=-1
    )
    rgba[values <= 0] = 0
    return rgba.astype(np.uint8)


# ---------------------------------------------------------------------------
# Patrol priorities
# ---------------------------------------------------------------------------

_EMERGING_BONUS = {1: 3, 2: 3, 3: 4, 4: 2, 6: 1, 7: 1}


def priority_table(frame):
    """Return the hot grids ranked for patrol, with their priority level."""
    hot = frame[(frame["gi_bin"] > 0) | (frame["emerging"].isin(list(_EMERGING_BONUS)))].copy()
    if hot.empty:
        return hot.assign(score=[], level=[])
    hot["score"] = (
        hot["gi_bin"].clip(lower=0) * 10
        + hot["emerging"].map(_EMERGING_BONUS).fillna(0)
        + hot["gi_z"].fillna(0).clip(-5, 5) / 10
    )
    hot["level"] = np.select(
        [
            (hot["gi_bin"] == 3) | hot["emerging"].isin([1, 2, 3]),
            (hot["gi_bin"] == 2) | (hot["emerging"] == 4),
        ],
        ["一级", "二级"],
        default="三级",
    )
    return hot.sort_values(["score", "cases"], ascending=False)


def patrol_priorities(frame):
    """Return, per grid worker of a hot grid, his hot grids ranked for patrol.

    A list of {"worker", "phone", "grids": [dicts], "all_grids"}, ordered by each
    worker's best-ranked grid. Only the workers of hot grids are read: a district of
    10,000 grids has as many workers, and most of them have no hot grid.
    """
    from django.db.models import Count

    from gridmap.pii import mask_phone
    from layers.models import GridWorker

    ranked = priority_table(frame)
    if ranked.empty:
        return []
    rank_of = {int(gid): k for k, gid in enumerate(ranked.index)}
    links = GridWorker.grids.through.objects.filter(grid_id__in=list(rank_of)).values_list(
        "gridworker_id", "grid_id"
    )
    grids_of = {}
    for worker_id, grid_id in links:
        grids_of.setdefault(worker_id, []).append(grid_id)
    workers = GridWorker.objects.filter(pk__in=list(grids_of)).annotate(n_grids=Count("grids"))
    out = []
    for worker in workers:
        rows = []
        for gid in sorted(grids_of[worker.pk], key=rank_of.get):
            row = ranked.loc[gid]
            rows.append(
                {
                    "grid_id": int(gid),
                    "code": row["code"],
                    "name": row["name"],
                    "level": row["level"],
                    "cases": int(row["cases"]),
                    "gi_label": row["gi_label"],
                    "emerging_label": row["emerging_label"],
                    "z": None if pd.isna(row["gi_z"]) else float(row["gi_z"]),
                }
            )
        out.append(
            {
                "worker": worker.name,
                # A work phone, still shown masked like every phone number.
                "phone": mask_phone(worker.phone) if worker.phone else "",
                "grids": rows,
                "all_grids": worker.n_grids,
                "best": rank_of[rows[0]["grid_id"]],
            }
        )
    out.sort(key=lambda w: (w["best"], w["worker"]))
    return out
