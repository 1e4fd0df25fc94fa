"""
Statistics core of hotspot analysis (分析研判).

Pure functions on numpy arrays and a ``libpysal.graph.Graph`` of grid cells: no
database, no Django. Values are aligned with ``graph.unique_ids`` (pass a pandas
Series or DataFrame indexed by grid id to have them aligned for you).

- ``contiguity_weights``: queen contiguity between grid polygons, islands joined
  to their nearest grid.
- ``getis_ord_gi_star``: Gi* z-score, analytic and permutation p-values, and the
  ArcGIS-style Gi_Bin class (+3 … -3) after Benjamini–Hochberg FDR.
- ``local_moran``: Local Moran's I with HH / LL / HL / LH labels.
- ``kernel_density``: quartic (or Gaussian) kernel density raster of cases.
- ``mann_kendall``: Mann–Kendall trend test, vectorised over many series.
- ``emerging_hot_spots``: ArcGIS-style Emerging Hot Spot Analysis on a grid ×
  time-step cube.
- ``risk_index`` and ``formula_text``: a weighted, min–max normalised risk score
  per grid and its formula in Chinese.
"""

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import signal, stats

# Confidence levels of the Gi_Bin classes, as in ArcGIS's Hot Spot Analysis.
GI_BIN_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))

GI_BIN_LABELS_ZH = {
    3: "热点（99% 置信度）",
    2: "热点（95% 置信度）",
    1: "热点（90% 置信度）",
    0: "不显著",
    -1: "冷点（90% 置信度）",
    -2: "冷点（95% 置信度）",
    -3: "冷点（99% 置信度）",
}

# Quadrant codes of esda.Moran_Local.q (its default ``quads=(1, 2, 3, 4)``).
LISA_QUADRANTS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}

LISA_LABELS_ZH = {
    "HH": "高-高聚集",
    "LL": "低-低聚集",
    "HL": "高-低异常",
    "LH": "低-高异常",
    "NS": "不显著",
}

# Emerging hot spot categories, numbered in the order of ArcGIS's list; cold
# spots carry the negative number of the matching hot spot class.
EMERGING_PATTERNS = {
    1: "new_hot_spot",
    2: "consecutive_hot_spot",
    3: "intensifying_hot_spot",
    4: "persistent_hot_spot",
    5: "diminishing_hot_spot",
    6: "sporadic_hot_spot",
    7: "oscillating_hot_spot",
    8: "historical_hot_spot",
    0: "no_pattern",
    -1: "new_cold_spot",
    -2: "consecutive_cold_spot",
    -3: "intensifying_cold_spot",
    -4: "persistent_cold_spot",
    -5: "diminishing_cold_spot",
    -6: "sporadic_cold_spot",
    -7: "oscillating_cold_spot",
    -8: "historical_cold_spot",
}

# The Chinese names used by ArcGIS's own Chinese help (新兴时空热点分析).
EMERGING_LABELS_ZH = {
    1: "新增的热点",
    2: "连续的热点",
    3: "加强的热点",
    4: "持续的热点",
    5: "逐渐减少的热点",
    6: "分散的热点",
    7: "振荡的热点",
    8: "历史热点",
    0: "未检测到任何模式",
    -1: "新增的冷点",
    -2: "连续的冷点",
    -3: "加强的冷点",
    -4: "持续的冷点",
    -5: "逐渐减少的冷点",
    -6: "分散的冷点",
    -7: "振荡的冷点",
    -8: "历史冷点",
}

# Risk indicators of a grid; every one of them reads "higher means riskier".
RISK_INDICATORS = {
    "case_rate_per_1000": "案件发生率（每千人）",
    "rental_density": "出租房屋密度（户/平方千米）",
    "floating_ratio": "流动人口与户籍人口之比",
    "tenants_per_room": "每间出租房租住人数",
    "unregistered_tenants": "未登记租户数",
    "overdue_share": "超期案件占比",
}


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


def contiguity_weights(geoms, ids=None, *, islands="nearest", strict=False):
    """
    Return binary queen-contiguity weights between grid polygons.

    ``geoms`` is a GeoDataFrame, a GeoSeries or a sequence of shapely polygons;
    ``ids`` (same length) names the grids, otherwise the GeoSeries index or
    0..n-1 is used. The graph is ``libpysal.graph.Graph`` (not the legacy
    ``W``): it builds faster and esda's G_Local runs faster on it.

    The weights are binary (1 for a neighbour): that is what the Gi* moments in
    esda and in this module assume. Gi* adds the self-weight itself.

    Islands (a grid that touches no other grid: an enclave, a grid across the
    lake) would make a one-cell "neighbourhood" whose Gi* is just the cell's
    own standardised value. With ``islands="nearest"`` (the default) each
    island is joined, symmetrically, to the grid whose centroid is nearest to
    its centroid, as ArcGIS does for bins that have fewer contiguity
    neighbours than asked for. With ``islands="keep"`` islands stay alone; the
    functions below then report them as not significant (z = NaN) instead of
    crashing.

    ``strict=True`` uses shapely predicates instead of shared vertices; it is
    slower but finds neighbours across slightly misaligned digitised
    boundaries.
    """
    import geopandas as gpd
    import shapely

    if islands not in ("nearest", "keep"):
        raise ValueError(f"islands must be 'nearest' or 'keep', not {islands!r}.")
    if isinstance(geoms, gpd.GeoDataFrame):
        geoms = geoms.geometry
    if ids is not None:
        geoms = gpd.GeoSeries(np.asarray(geoms, dtype=object), index=pd.Index(ids))
    elif not isinstance(geoms, gpd.GeoSeries):
        geoms = gpd.GeoSeries(np.asarray(geoms, dtype=object))
    if not geoms.index.is_unique:
        raise ValueError("Grid ids must be unique.")
    if geoms.isna().any() or geoms.is_empty.any():
        raise ValueError("Every grid needs a non-empty polygon.")
    graph = Graph.build_contiguity(geoms, rook=False, strict=strict)
    if islands == "nearest" and len(graph.isolates) and graph.n > 1:
        graph = _join_islands(graph, shapely.centroid(geoms.to_numpy()))
    return graph.transform("B")


def _join_islands(graph, centroids):
    """Join every island of ``graph`` to the grid with the nearest centroid."""
    import shapely

    island_pos = np.flatnonzero(graph.cardinalities.to_numpy() == 0)
    tree = shapely.STRtree(centroids)
    # exclusive=True skips the island itself; all_matches=False keeps one
    # neighbour on equal distances so the result does not depend on ties.
    pairs = tree.query_nearest(centroids[island_pos], exclusive=True, all_matches=False)
    source = island_pos[pairs[0]]
    target = pairs[1]
    adjacency = graph.sparse.tolil()
    adjacency[source, target] = 1
    adjacency[target, source] = 1
    adjacency = adjacency.tocsr()
    # Graph keeps an island as a zero-weight self-loop; drop it, or the island
    # would count itself as a neighbour.
    adjacency.eliminate_zeros()
    return Graph.from_sparse(adjacency, ids=graph.unique_ids)


def _as_graph(w):
    """Return ``w`` as a libpysal Graph (legacy W objects are converted)."""
    if isinstance(w, Graph):
        return w
    return Graph.from_W(w)


def _align(values, graph, what="values"):
    """Return ``values`` as a float array in the order of ``graph.unique_ids``."""
    ids = graph.unique_ids
    if isinstance(values, (pd.Series, pd.DataFrame)):
        missing = ids.difference(values.index)
        if len(missing):
            raise ValueError(f"{what} has no row for {len(missing)} grid(s), e.g. {missing[0]!r}.")
        values = values.reindex(ids)
    array = np.asarray(values, dtype=float)
    if array.ndim == 0 or array.shape[0] != graph.n:
        raise ValueError(
            f"{what} has {array.shape[0] if array.ndim else 1} rows but the "
            f"weights have {graph.n} grids."
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    return array


def _grid_index(graph):
    """Return the grid ids of ``graph`` as the index of a result frame."""
    return pd.Index(graph.unique_ids, name="grid")


def _islands(graph):
    """Return a boolean mask of the grids that have no neighbour."""
    return graph.cardinalities.to_numpy() == 0


# ---------------------------------------------------------------------------
# Multiple testing
# ---------------------------------------------------------------------------


def fdr_adjust(p_values):
    """
    Return Benjamini–Hochberg adjusted p-values (q-values).

    A test is significant at false discovery rate ``alpha`` when its q-value is
    ≤ alpha; this is the same decision as the BH step-up rule. NaN p-values
    (untested cells, e.g. islands) stay NaN and are left out of the family.
    Matches ``scipy.stats.false_discovery_control(p, method="bh")``.
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    p_tested = p[tested]
    m = p_tested.size
    if m == 0:
        return q
    order = np.argsort(p_tested, kind="stable")
    ranked = p_tested[order] * m / np.arange(1, m + 1)
    # Step-up: each q-value is the smallest BH ratio at its rank or above.
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(ranked, 1.0)
    q[tested] = adjusted
    return q


def gi_bin(z, p):
    """
    Return the ArcGIS Gi_Bin class (+3 … -3) of each z-score and p-value.

    ±3, ±2, ±1 mean significant at 99 %, 95 %, 90 % confidence, the sign that
    of z; 0 is not significant (and NaN p-values, for islands).
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    level = np.zeros(p.shape, dtype=np.int8)
    # Loosest level first so that stricter levels overwrite it.
    for value, alpha in reversed(GI_BIN_LEVELS):
        level[p <= alpha] = value
    return (level * np.sign(np.nan_to_num(z))).astype(np.int8)


def _two_sided_pseudo_p(p_directed, permutations):
    """
    Return a two-sided pseudo p-value from esda's "directed" one.

    esda's permutation p-value, (min(#sim ≥ obs, #sim < obs) + 1) / (R + 1),
    looks only at the tail the observed value falls in, i.e. it is one-sided;
    doubling it (capped at 1) gives the usual two-sided value, comparable with
    the two-sided analytic p-value and with ArcGIS's thresholds.
    """
    # esda stores float32: restore the exact fraction (k + 1) / (R + 1) so that
    # 0.01 stays 0.01 when compared with a threshold.
    counts = np.round(np.asarray(p_directed, dtype=float) * (permutations + 1))
    return np.minimum(1.0, 2.0 * counts / (permutations + 1))


# ---------------------------------------------------------------------------
# Getis-Ord Gi*
# ---------------------------------------------------------------------------


def getis_ord_gi_star(values, w, *, permutations=999, seed=12345, fdr=True, p_value="norm"):
    """
    Return the Getis-Ord Gi* hot spot statistics of every grid.

    Uses ``esda.G_Local(star=True, transform="B")`` with binary weights and the
    cell itself in its neighbourhood, which is the classic Gi* of Getis & Ord
    (1995) and of ArcGIS's Hot Spot Analysis:

        z_i = (Σ_j w_ij x_j − x̄ Σ_j w_ij)
              / (S · sqrt((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))

    with x̄ the mean, S the population standard deviation of all n values.

    Returns a DataFrame indexed by grid id with columns:

    - ``value``: the input value;
    - ``z``: the Gi* z-score;
    - ``p_norm``: two-sided p-value from the normal approximation,
      2·Φ(−|z|) (esda's own ``p_norm`` is one-sided: this is twice it);
    - ``p_sim``: two-sided pseudo p-value from ``permutations`` conditional
      permutations (NaN when ``permutations=0``);
    - ``q``: the p-value that drives the class, Benjamini–Hochberg adjusted
      over all tested grids when ``fdr`` is true;
    - ``gi_bin``: +3/+2/+1 hot spot at 99/95/90 % confidence, 0 not
      significant, -1/-2/-3 cold spot (as ArcGIS's Gi_Bin);
    - ``island``: the grid has no neighbour (z, p are NaN, class 0).

    Which p-value drives the class: ``p_value="norm"`` (default) uses the
    analytic p-value, as ArcGIS's Gi_Bin does. ``p_value="sim"`` uses the
    permutation p-value instead; note that with R permutations it cannot go
    below 2/(R+1) (0.002 for 999), so after FDR over 10,000 grids the 99 % and
    often the 95 % class can only be reached when hundreds to thousands of
    grids are significant at once. The permutation p-value is always reported
    so that a reader can check the normal approximation on skewed counts.

    Permutations run in esda with ``keep_simulations=False`` (n × R floats
    would be 80 MB for 10,000 grids) and ``n_jobs=1`` (a process pool costs
    more than it saves on 10,000 grids and does not belong in a web worker).
    esda seeds numpy's global random state with ``seed``.
    """
    import esda

    if p_value not in ("norm", "sim"):
        raise ValueError(f"p_value must be 'norm' or 'sim', not {p_value!r}.")
    if p_value == "sim" and not permutations:
        raise ValueError("p_value='sim' needs permutations > 0.")
    graph = _as_graph(w)
    y = _align(values, graph)
    islands = _islands(graph)
    if y.std() == 0:
        # All grids equal (e.g. no case at all): nothing is hot or cold, and
        # esda would divide by zero.
        z = np.where(islands, np.nan, 0.0)
        p_sim = np.where(islands, np.nan, 1.0 if permutations else np.nan)
    else:
        with warnings.catch_warnings():
            # esda warns that its permutation alternative will change; we
            # turn its current ("directed") p-value into a two-sided one.
            warnings.simplefilter("ignore", DeprecationWarning)
            result = esda.G_Local(
                y,
                graph,
                transform="B",
                star=True,
                permutations=permutations,
                keep_simulations=False,
                n_jobs=1,
                seed=seed,
            )
        z = np.where(islands, np.nan, result.Zs)
        if permutations:
            p_sim = _two_sided_pseudo_p(result.p_sim, permutations)
            p_sim = np.where(islands, np.nan, p_sim)
        else:
            p_sim = np.full(graph.n, np.nan)
    p_norm = 2.0 * stats.norm.sf(np.abs(z))
    driving = p_norm if p_value == "norm" else p_sim
    q = fdr_adjust(driving) if fdr else driving
    return pd.DataFrame(
        {
            "value": y,
            "z": z,
            "p_norm": p_norm,
            "p_sim": p_sim,
            "q": q,
            "gi_bin": gi_bin(z, q),
            "island": islands,
        },
        index=_grid_index(graph),
    )


def _binary_star_matrix(graph):
    """Return the binary weights of ``graph`` with 1 on the diagonal (CSR)."""
    from scipy import sparse

    adjacency = sparse.csr_matrix(graph.sparse, dtype=float, copy=True)
    # Zero weights (an island's placeholder self-loop) are not neighbours.
    adjacency.eliminate_zeros()
    adjacency.data[:] = 1.0
    adjacency.setdiag(0.0)
    adjacency.eliminate_zeros()
    return (adjacency + sparse.identity(graph.n, format="csr")).tocsr()


def gi_star_cube(cube, w, *, time_steps=1, global_window="cube"):
    """
    Return space-time Gi* z-scores for a grid × time-step cube.

    The neighbourhood of bin (i, t) is grid i and its contiguity neighbours, at
    time step t and the ``time_steps`` steps before it, as in ArcGIS's
    Emerging Hot Spot Analysis ("Neighborhood Time Step", default 1).
    ``time_steps=0`` gives a purely spatial Gi* per time step.

    ``global_window`` sets what the neighbourhood sum is compared with:
    ``"cube"`` (ArcGIS's default, "Entire cube") uses the mean and standard
    deviation of all bins, ``"slice"`` those of the bin's own time step (only
    with ``time_steps=0``; each column is then exactly esda's per-step Gi*).

    Analytic z-scores only: one sparse product and a cumulative sum for the
    whole cube, no Python loop over grids or steps. Islands get NaN.
    Returns an array of the cube's shape.
    """
    graph = _as_graph(w)
    y = _align(cube, graph, "cube")
    if y.ndim != 2:
        raise ValueError("The cube must be 2-D: grids × time steps.")
    if time_steps < 0:
        raise ValueError("time_steps must be ≥ 0.")
    if global_window not in ("cube", "slice"):
        raise ValueError(f"global_window must be 'cube' or 'slice', not {global_window!r}.")
    if global_window == "slice" and time_steps:
        raise ValueError("global_window='slice' needs time_steps=0.")
    n_grids, n_steps = y.shape
    star = _binary_star_matrix(graph)
    local = np.asarray(star @ y)
    spatial_weight = np.asarray(star.sum(axis=1)).ravel()
    if time_steps:
        # Sum of the spatial neighbourhood over steps t-k … t via a running sum.
        running = np.cumsum(local, axis=1)
        local = running.copy()
        k = time_steps + 1
        local[:, k:] -= running[:, :-k]
        steps_in_window = np.minimum(np.arange(n_steps) + 1, k)
    else:
        steps_in_window = np.ones(n_steps)
    # Binary weights: Σw = Σw² = W, the number of bins in the neighbourhood.
    weight = spatial_weight[:, None] * steps_in_window[None, :]
    if global_window == "cube":
        n = y.size
        mean = y.mean()
        std = y.std()
    else:
        n = n_grids
        mean = y.mean(axis=0)[None, :]
        std = y.std(axis=0)[None, :]
    denominator = np.sqrt((n * weight - weight**2) / (n - 1)) * std
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (local - mean * weight) / denominator
    # No variation in the window (e.g. a week without any case): no hot spot.
    z = np.where(np.broadcast_to(std, z.shape) == 0, 0.0, z)
    z[_islands(graph)] = np.nan
    return z


# ---------------------------------------------------------------------------
# Local Moran's I
# ---------------------------------------------------------------------------


def local_moran(values, w, *, permutations=999, seed=12345, alpha=0.05, fdr=False):
    """
    Return Local Moran's I (Anselin's LISA) with cluster and outlier labels.

    Uses ``esda.Moran_Local`` with row-standardised weights. Returns a
    DataFrame indexed by grid id with ``value``, ``i`` (local I), ``quadrant``
    (HH/LH/LL/HL from the value and its spatial lag), ``p_sim`` (two-sided
    pseudo p-value from the conditional permutations), ``q`` (the p-value
    used, Benjamini–Hochberg adjusted when ``fdr``), ``cluster`` (the quadrant
    when q ≤ ``alpha``, otherwise "NS") and ``island``.

    HH: a high value among high neighbours (高-高聚集), LL the reverse; HL: a high
    value among low neighbours (高-低异常), LH the reverse. Local Moran has no
    trustworthy analytic p-value, so permutations are required. FDR is off by
    default, as in ArcGIS's Cluster and Outlier Analysis.
    """
    import esda

    if not permutations:
        raise ValueError("local_moran needs permutations > 0.")
    graph = _as_graph(w)
    y = _align(values, graph)
    islands = _islands(graph)
    if y.std() == 0:
        raise ValueError("All values are equal: Local Moran's I is undefined.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = esda.Moran_Local(
            y,
            graph,
            transformation="r",
            permutations=permutations,
            keep_simulations=False,
            n_jobs=1,
            seed=seed,
        )
    p_sim = np.where(islands, np.nan, _two_sided_pseudo_p(result.p_sim, permutations))
    q = fdr_adjust(p_sim) if fdr else p_sim
    # An island has no spatial lag, hence no quadrant.
    quadrant = np.where(islands, None, pd.Series(result.q).map(LISA_QUADRANTS))
    cluster = np.where(q <= alpha, quadrant, "NS")
    return pd.DataFrame(
        {
            "value": y,
            "i": np.where(islands, np.nan, result.Is),
            "quadrant": quadrant,
            "p_sim": p_sim,
            "q": q,
            "cluster": cluster,
            "island": islands,
        },
        index=_grid_index(graph),
    )


# ---------------------------------------------------------------------------
# Kernel density
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DensityRaster:
    """A kernel density raster: values in cases per km², row 0 to the north."""

    values: np.ndarray
    # GDAL order: (x origin, cell width, 0, y origin, 0, -cell height).
    geotransform: tuple
    cell_size: float
    unit: str = "cases/km²"

    @property
    def bounds(self):
        """Return (xmin, ymin, xmax, ymax) of the raster in metres."""
        x0, cell, _, y0, _, _ = self.geotransform
        rows, cols = self.values.shape
        return (x0, y0 - rows * cell, x0 + cols * cell, y0)

    def cell_centres(self):
        """Return the x and y coordinates of the cell centres (2-D arrays)."""
        x0, cell, _, y0, _, _ = self.geotransform
        rows, cols = self.values.shape
        xs = x0 + (np.arange(cols) + 0.5) * cell
        ys = y0 - (np.arange(rows) + 0.5) * cell
        return np.meshgrid(xs, ys)


def _kernel(distance_sq, bandwidth, kernel):
    """Return the kernel density (per m²) at the given squared distances."""
    if kernel == "quartic":
        # Silverman (1986) eq. 4.5, the kernel of ArcGIS's Kernel Density:
        # 3/(π h²) (1 − d²/h²)² inside the search radius h, 0 outside.
        u = distance_sq / bandwidth**2
        return np.where(u < 1.0, 3.0 / (math.pi * bandwidth**2) * (1.0 - u) ** 2, 0.0)
    return np.exp(-distance_sq / (2.0 * bandwidth**2)) / (2.0 * math.pi * bandwidth**2)


def kernel_density(
    points_xy,
    bbox,
    cell_size,
    bandwidth,
    *,
    weights=None,
    kernel="quartic",
    method="binned",
):
    """
    Return a kernel density raster of case points, in cases per km².

    ``points_xy`` is an (n, 2) array of x, y in metres of a projected CRS (a
    CGCS2000 Gauss–Krüger zone, say; not degrees of EPSG:4490). ``bbox`` is
    (xmin, ymin, xmax, ymax) in the same metres; the raster starts at
    (xmin, ymax) and covers it with square cells of ``cell_size`` metres.
    ``bandwidth`` is the search radius h of the quartic kernel (density is 0
    beyond it), or the standard deviation σ of the Gaussian kernel (cut at 4σ).
    ``weights`` counts a point several times (e.g. persons involved).

    Units: each point spreads a mass of 1 (or its weight) over the plane, so
    the raster's sum × cell area in km² is the number of cases near the box;
    a value of 12 means 12 cases per km² around that cell.

    ``method="binned"`` (default) counts points per cell and convolves the
    counts with the kernel sampled at cell-centre offsets, by FFT; its cost
    does not grow with the number of points beyond the counting. Each point
    moves to its cell's centre, an error of at most half a cell diagonal; the
    sampled kernel is normalised to sum to 1 so no mass is lost on coarse
    cells. ``method="exact"`` evaluates the kernel at every cell centre from
    each point's true position (ArcGIS's definition), vectorised over blocks
    of points; it costs O(points × (h / cell)²) and needs a bandwidth of a
    few cells, or mass falls between cell centres.

    Points outside the box still add density inside it within the bandwidth.
    """
    if kernel not in ("quartic", "gaussian"):
        raise ValueError(f"kernel must be 'quartic' or 'gaussian', not {kernel!r}.")
    if method not in ("binned", "exact"):
        raise ValueError(f"method must be 'binned' or 'exact', not {method!r}.")
    if not (cell_size > 0 and bandwidth > 0):
        raise ValueError("cell_size and bandwidth must be positive (metres).")
    xmin, ymin, xmax, ymax = (float(v) for v in bbox)
    if not (xmax > xmin and ymax > ymin):
        raise ValueError("bbox must be (xmin, ymin, xmax, ymax) with max > min.")
    points = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    mass = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=float).ravel()
    if mass.shape[0] != points.shape[0]:
        raise ValueError("weights must have one value per point.")
    finite = np.isfinite(points).all(axis=1) & np.isfinite(mass)
    points, mass = points[finite], mass[finite]

    cols = max(1, math.ceil((xmax - xmin) / cell_size))
    rows = max(1, math.ceil((ymax - ymin) / cell_size))
    reach = bandwidth if kernel == "quartic" else 4.0 * bandwidth
    radius = math.ceil(reach / cell_size)
    # Points farther than the kernel's reach from the raster add nothing.
    margin = reach + cell_size
    near = (
        (points[:, 0] >= xmin - margin)
        & (points[:, 0] <= xmin + cols * cell_size + margin)
        & (points[:, 1] >= ymax - rows * cell_size - margin)
        & (points[:, 1] <= ymax + margin)
    )
    points, mass = points[near], mass[near]
    geotransform = (xmin, float(cell_size), 0.0, ymax, 0.0, -float(cell_size))

    if method == "binned":
        density = _kde_binned(
            points, mass, xmin, ymax, rows, cols, cell_size, bandwidth, radius, kernel
        )
    else:
        density = _kde_exact(
            points, mass, xmin, ymax, rows, cols, cell_size, bandwidth, radius, kernel
        )
    # Per m² to per km².
    return DensityRaster(density * 1e6, geotransform, float(cell_size))


def _kernel_stencil(cell_size, bandwidth, radius, kernel):
    """Return the kernel sampled at cell-centre offsets, summing to 1."""
    offsets = np.arange(-radius, radius + 1) * cell_size
    dx, dy = np.meshgrid(offsets, offsets)
    stencil = _kernel(dx**2 + dy**2, bandwidth, kernel)
    if stencil.sum() == 0:
        # Bandwidth far below the cell size: all the mass stays in the cell.
        stencil[radius, radius] = 1.0
    return stencil / stencil.sum()


def _kde_binned(points, mass, xmin, ymax, rows, cols, cell, bandwidth, radius, kernel):
    """Return density per m² by binning points and an FFT convolution."""
    padded_rows, padded_cols = rows + 2 * radius, cols + 2 * radius
    col = np.floor((points[:, 0] - xmin) / cell).astype(np.int64) + radius
    row = np.floor((ymax - points[:, 1]) / cell).astype(np.int64) + radius
    inside = (col >= 0) & (col < padded_cols) & (row >= 0) & (row < padded_rows)
    counts = np.bincount(
        row[inside] * padded_cols + col[inside],
        weights=mass[inside],
        minlength=padded_rows * padded_cols,
    ).reshape(padded_rows, padded_cols)
    stencil = _kernel_stencil(cell, bandwidth, radius, kernel)
    smoothed = signal.fftconvolve(counts, stencil, mode="same")
    smoothed = smoothed[radius : radius + rows, radius : radius + cols]
    # FFT round-off leaves values of ±1e-16 where the density is 0; anything
    # below a 1e-10 share of one case's peak is such noise.
    smoothed[smoothed < 1e-10 * stencil.max()] = 0.0
    return smoothed / cell**2


def _kde_exact(points, mass, xmin, ymax, rows, cols, cell, bandwidth, radius, kernel):
    """Return density per m² by evaluating the kernel at every cell centre."""
    density = np.zeros(rows * cols)
    window = np.arange(-radius, radius + 1)
    d_col, d_row = (a.ravel() for a in np.meshgrid(window, window))
    # Blocks of points keep the (points × window) arrays to ~32 MB each.
    block = max(1, 4_000_000 // d_col.size)
    for start in range(0, len(points), block):
        xy = points[start : start + block]
        m = mass[start : start + block]
        col = np.floor((xy[:, 0] - xmin) / cell).astype(np.int64)[:, None] + d_col
        row = np.floor((ymax - xy[:, 1]) / cell).astype(np.int64)[:, None] + d_row
        cx = xmin + (col + 0.5) * cell
        cy = ymax - (row + 0.5) * cell
        value = (
            _kernel((cx - xy[:, :1]) ** 2 + (cy - xy[:, 1:]) ** 2, bandwidth, kernel) * m[:, None]
        )
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows) & (value > 0)
        density += np.bincount(
            (row * cols + col)[inside], weights=value[inside], minlength=rows * cols
        )
    return density.reshape(rows, cols)


# ---------------------------------------------------------------------------
# Mann–Kendall trend test
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MannKendall:
    """Results of the Mann–Kendall test, one entry per series."""

    s: np.ndarray
    var_s: np.ndarray
    tau: np.ndarray
    z: np.ndarray
    p: np.ndarray
    # Sign of S: +1 upward, -1 downward, 0 none (significance is p's job).
    trend: np.ndarray


def mann_kendall(series, *, continuity=True, chunk_size=None):
    """
    Return the Mann–Kendall trend test of each series (rows of a 2-D array).

    ``series`` is (n_series, n_steps) or a single 1-D series, equally spaced in
    time and without NaN. For each row:

    - S = Σ_{i<j} sign(x_j − x_i);
    - Var(S) = [n(n−1)(2n+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18, with t_g the size
      of each group of tied values (the tie correction);
    - z = (S − sign(S)) / sqrt(Var(S)) with the continuity correction
      (``continuity=False`` uses S / sqrt(Var(S)), as scipy's kendalltau);
    - p two-sided from the normal distribution;
    - tau: Kendall's tau-b of the series against time, S / sqrt(D (D − T_x)),
      D = n(n−1)/2, T_x = Σ_g t_g(t_g−1)/2.

    A constant series has Var(S) = 0: z = 0 and p = 1. Vectorised over rows,
    in chunks of ``chunk_size`` rows (by default as many as keep the n² work
    arrays near 32 MB).
    """
    x = np.asarray(series, dtype=float)
    single = x.ndim == 1
    x = np.atleast_2d(x)
    if x.ndim != 2:
        raise ValueError("series must be 1-D or 2-D (series × time steps).")
    if np.isnan(x).any():
        raise ValueError("series contains NaN; fill or drop those steps first.")
    n = x.shape[1]
    if n < 3:
        raise ValueError("The Mann–Kendall test needs at least 3 time steps.")
    later, earlier = np.triu_indices(n, 1)[::-1]
    if chunk_size is None:
        chunk_size = max(1, 4_000_000 // (n * n))
    s = np.empty(x.shape[0])
    tie_var = np.empty(x.shape[0])
    tie_pairs = np.empty(x.shape[0])
    for start in range(0, x.shape[0], chunk_size):
        block = x[start : start + chunk_size]
        s[start : start + len(block)] = np.sign(block[:, later] - block[:, earlier]).sum(axis=1)
        # t = size of the tie group of each element; a group of size t has t
        # elements, so Σ_groups f(t) = Σ_elements f(t) / t.
        t = (block[:, :, None] == block[:, None, :]).sum(axis=2)
        tie_var[start : start + len(block)] = ((t - 1) * (2 * t + 5)).sum(axis=1)
        tie_pairs[start : start + len(block)] = (t - 1).sum(axis=1) / 2.0
    var_s = (n * (n - 1) * (2 * n + 5) - tie_var) / 18.0
    numerator = s - np.sign(s) if continuity else s
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, numerator / np.sqrt(var_s), 0.0)
        pairs = n * (n - 1) / 2.0
        tau = np.where(pairs - tie_pairs > 0, s / np.sqrt(pairs * (pairs - tie_pairs)), 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    trend = np.sign(s).astype(np.int8)
    if single:
        s, var_s, tau, z, p, trend = (a[0] for a in (s, var_s, tau, z, p, trend))
    return MannKendall(s=s, var_s=var_s, tau=tau, z=z, p=p, trend=trend)


# ---------------------------------------------------------------------------
# Emerging hot spots
# ---------------------------------------------------------------------------


def _trailing_run(flags):
    """Return the length of the run of True at the end of each row."""
    reversed_flags = flags[:, ::-1]
    has_false = (~reversed_flags).any(axis=1)
    first_false = np.argmax(~reversed_flags, axis=1)
    return np.where(has_false, first_false, flags.shape[1])


def classify_emerging(hot, cold, trend_z, trend_p, *, trend_alpha=0.10):
    """
    Return the emerging hot spot category (see EMERGING_PATTERNS) of each row.

    ``hot`` and ``cold`` are boolean (grids × time steps) arrays of the bins
    that are significant hot / cold spots; ``trend_z`` and ``trend_p`` are the
    Mann–Kendall z and p of each grid's Gi* z-score series; a trend is
    significant when ``trend_p ≤ trend_alpha``.

    The rules follow ArcGIS's "How Emerging Hot Spot Analysis works" (see
    ``emerging_hot_spots``). "Ninety percent" means at least 0.9 × the number
    of steps. Where two definitions could both apply, the state of the final
    step decides first (a grid that is a cold spot now is in a cold class even
    if it was hot for 90 % of the steps), then: oscillating before new (a new
    hot spot that was once a cold spot is oscillating); consecutive needs a
    final run of at least two hot bins and no hot bin before it; sporadic is
    the rest of the "final step hot, < 90 %, never cold" grids.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.shape != cold.shape or hot.ndim != 2:
        raise ValueError("hot and cold must be 2-D arrays of the same shape.")
    if (hot & cold).any():
        raise ValueError("A bin cannot be both a hot and a cold spot.")
    n_steps = hot.shape[1]
    trend_z = np.asarray(trend_z, dtype=float)
    trend_p = np.asarray(trend_p, dtype=float)
    significant = trend_p <= trend_alpha
    upward = significant & (trend_z > 0)
    downward = significant & (trend_z < 0)
    category = np.zeros(hot.shape[0], dtype=np.int8)

    for sign, spots, others, stronger, weaker in (
        (1, hot, cold, upward, downward),
        (-1, cold, hot, downward, upward),
    ):
        count = spots.sum(axis=1)
        mostly = count >= 0.9 * n_steps
        now = spots[:, -1]
        ever_other = others.any(axis=1)
        run = _trailing_run(spots)
        rules = (
            (3, now & mostly & stronger),  # intensifying
            (5, now & mostly & weaker),  # diminishing
            (4, now & mostly & ~significant),  # persistent
            (7, now & ~mostly & ever_other),  # oscillating
            (1, now & ~mostly & ~ever_other & (count == 1)),  # new
            (2, now & ~mostly & ~ever_other & (count >= 2) & (run == count)),
            (6, now & ~mostly & ~ever_other & (count >= 2) & (run < count)),
            # Historical: not a spot of either kind now, but ≥ 90 % before.
            (8, ~hot[:, -1] & ~cold[:, -1] & mostly),
        )
        for code, mask in rules:
            category[mask & (category == 0)] = sign * code
    return category


def emerging_hot_spots(
    cube,
    w,
    *,
    time_steps=1,
    global_window="cube",
    alpha=0.10,
    fdr=True,
    trend_alpha=0.10,
    return_bins=False,
):
    """
    Return the ArcGIS-style emerging hot spot category of every grid.

    ``cube`` is (grids × time steps), e.g. cases per grid per week, oldest
    step first; a DataFrame indexed by grid id is aligned to ``w``.

    The method of ArcGIS's Emerging Hot Spot Analysis:

    1. Space-time Gi* of every bin (``gi_star_cube``: the grid, its contiguity
       neighbours, this step and ``time_steps`` steps before it, against the
       whole cube). Analytic z-scores and two-sided normal p-values only:
       permutations on 10,000 × 52 bins would not fit the time budget.
    2. A bin is a significant hot (cold) spot when z > 0 (< 0) and its p-value,
       Benjamini–Hochberg adjusted over all bins of the cube when ``fdr``, is
       ≤ ``alpha``. The default 0.10 is the loosest class of ArcGIS's Gi_Bin
       (90 % confidence); ArcGIS's page does not name the level it uses.
    3. The Mann–Kendall test (continuity and tie corrected) of each grid's
       series of Gi* z-scores; a trend is significant when p ≤ ``trend_alpha``.
    4. The classes, from ArcGIS Pro's help page "How Emerging Hot Spot
       Analysis works" (pro.arcgis.com/en/pro-app/latest/tool-reference/
       space-time-pattern-mining/learnmoreemerging.htm; the same text in its
       Chinese, Japanese and Spanish editions):

       - New: a significant hot spot for the final time step that has never
         been a significant hot spot before.
       - Consecutive: a single uninterrupted run of at least two significant
         hot spot bins in the final time steps, never a significant hot spot
         before that run, and less than 90 % of all bins hot.
       - Intensifying: hot for 90 % of the time steps, including the final
         one, and the intensity of clustering is increasing with statistical
         significance (Mann–Kendall).
       - Persistent: hot for 90 % of the time steps with no significant trend.
       - Diminishing: as intensifying, with a significant decrease.
       - Sporadic: hot for the final step, an on-again off-again history of
         being hot, less than 90 % hot and never a significant cold spot.
       - Oscillating: hot for the final step with a history of also being a
         significant cold spot; less than 90 % hot.
       - Historical: the most recent step is not hot, but at least 90 % of
         the steps have been significant hot spots.
       - The eight cold spot classes mirror these (intensifying cold: the
         z-scores become significantly more negative); anything else is
         "no pattern". See ``classify_emerging`` for the tie-breaks. Older
         editions (ArcMap 10.x) did not require the final step for sporadic.

    All of it is numpy over the whole cube, with no Python loop over grids.
    Every grid of ``w`` is analysed (the grids are the study area, as with an
    ArcGIS polygon analysis mask), including grids without any case. Islands
    get "no pattern".

    Returns a DataFrame indexed by grid id with ``category`` (int, see
    EMERGING_PATTERNS), ``pattern``, ``pattern_zh``, ``n_hot``, ``n_cold``,
    ``final_bin`` (Gi_Bin of the last step), ``trend_tau``, ``trend_z`` and
    ``trend_p``. With ``return_bins=True`` it returns ``(frame, bins)`` where
    ``bins`` is a dict of (grids × steps) arrays ``z``, ``p``, ``q``,
    ``gi_bin``.
    """
    graph = _as_graph(w)
    z = gi_star_cube(cube, graph, time_steps=time_steps, global_window=global_window)
    n_steps = z.shape[1]
    if n_steps < 3:
        raise ValueError("Emerging hot spots need at least 3 time steps.")
    p = 2.0 * stats.norm.sf(np.abs(z))
    q = fdr_adjust(p.ravel()).reshape(p.shape) if fdr else p
    significant = q <= alpha
    hot = significant & (z > 0)
    cold = significant & (z < 0)
    islands = _islands(graph)
    # Islands have NaN z-scores; a flat series gives them no trend.
    trend = mann_kendall(np.nan_to_num(z, nan=0.0))
    category = classify_emerging(hot, cold, trend.z, trend.p, trend_alpha=trend_alpha)
    category[islands] = 0
    bins = gi_bin(z, q)
    frame = pd.DataFrame(
        {
            "category": category,
            "pattern": pd.Series(category).map(EMERGING_PATTERNS).to_numpy(),
            "pattern_zh": pd.Series(category).map(EMERGING_LABELS_ZH).to_numpy(),
            "n_hot": hot.sum(axis=1),
            "n_cold": cold.sum(axis=1),
            "final_bin": bins[:, -1],
            "trend_tau": np.where(islands, np.nan, trend.tau),
            "trend_z": np.where(islands, np.nan, trend.z),
            "trend_p": np.where(islands, np.nan, trend.p),
        },
        index=_grid_index(graph),
    )
    if return_bins:
        return frame, {"z": z, "p": p, "q": q, "gi_bin": bins}
    return frame


# ---------------------------------------------------------------------------
# Risk index
# ---------------------------------------------------------------------------


def _check_risk_weights(weights):
    """Raise ValueError unless ``weights`` maps names to non-negative numbers."""
    if not weights:
        raise ValueError("指标权重不能为空 / Indicator weights must not be empty.")
    for name, weight in weights.items():
        is_number = isinstance(weight, numbers.Real) and not isinstance(weight, bool)
        if not is_number or not math.isfinite(weight):
            raise ValueError(
                f"指标“{name}”的权重必须是数字 / The weight of {name!r} must be a number."
            )
        if weight < 0:
            raise ValueError(
                f"指标“{name}”的权重不能为负 / The weight of {name!r} must not be negative."
            )
    if not any(weight > 0 for weight in weights.values()):
        raise ValueError("至少一个权重须大于 0 / At least one weight must be positive.")


def risk_index(indicators, weights):
    """
    Return the risk index of each grid: Σ_k w_k · x′_k.

    ``indicators`` is a DataFrame, one row per grid, one column per indicator
    (see RISK_INDICATORS: case rate per 1,000 residents, rental density,
    floating/registered population ratio, tenants per room, unregistered
    tenants, overdue case share; any other numeric column works too);
    ``weights`` maps column names to non-negative weights. Columns not in
    ``weights`` are ignored.

    x′ = (x − min) / (max − min) over the grids, so each indicator counts from
    0 (the lowest grid) to 1 (the highest). A column with one value for every
    grid carries no information and gives 0. Weights are used as given, not
    rescaled: the index never decreases when a weight grows, and with weights
    summing to 1 it lies in [0, 1]. A NaN indicator gives a NaN index for
    that grid rather than a guess.
    """
    _check_risk_weights(weights)
    missing = [name for name in weights if name not in indicators.columns]
    if missing:
        raise ValueError(
            f"缺少指标列 / Missing indicator column(s): {', '.join(map(str, missing))}."
        )
    total = pd.Series(0.0, index=indicators.index)
    for name, weight in weights.items():
        column = pd.to_numeric(indicators[name], errors="raise").astype(float)
        low, high = column.min(), column.max()
        spread = high - low
        normalised = (column - low) / spread if spread > 0 else column * 0.0
        total = total + weight * normalised
    return total.rename("risk_index")


def formula_text(weights):
    """
    Return the risk index formula in Chinese, for display next to the map.

    For example: 风险指数 = 0.4 × 案件发生率（每千人）′ + 0.6 × 出租房屋密度（户/平方千米）′
    followed by a line that explains the ′ (min–max normalisation).
    """
    _check_risk_weights(weights)
    terms = " + ".join(
        f"{weight:g} × {RISK_INDICATORS.get(name, name)}′" for name, weight in weights.items()
    )
    return (
        f"风险指数 = {terms}\n"
        "其中 x′ = (x − 最小值) / (最大值 − 最小值)，"
        "为该指标在各网格间的最小–最大归一化值（0～1）；各网格取值相同的指标记为 0。"
    )
