"""
Benchmark the hotspot statistics on a synthetic 100 × 100 grid district.

Run from the repository root:

    .venv/bin/python bench/bench_hotspots.py [--repeats 5] [--side 100] [--weeks 52]

Each step is timed several times and the median is printed side by side with
a baseline (the naive or default way of doing the same thing) as a Markdown
table. Baselines that would take minutes run on a subset of grids and are
extrapolated linearly; the table says so.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import esda  # noqa: E402
import geopandas as gpd  # noqa: E402
import libpysal  # noqa: E402
import shapely  # noqa: E402
from scipy import stats  # noqa: E402

from bench.benchdb import median_time  # noqa: E402
from cases.hotspots import stats as hs  # noqa: E402

CELL = 200.0  # metres: a grid of 200 m × 200 m, typical of urban grids


def synthetic_district(side, weeks, seed=2022):
    """Return grid polygons, ids and a grids × weeks cube of case counts."""
    rng = np.random.default_rng(seed)
    rows, cols = np.divmod(np.arange(side * side), side)
    boxes = shapely.box(cols * CELL, rows * CELL, (cols + 1) * CELL, (rows + 1) * CELL)
    ids = [f"530112{r:03d}{c:03d}" for r, c in zip(rows, cols, strict=True)]
    # Background rate per grid per week, plus a few planted hot spots: two
    # steady ones (an urban village, a market), one growing, one fading.
    rate = np.full((side * side, weeks), 0.3)
    t = np.arange(weeks) / max(weeks - 1, 1)
    for (r0, c0), radius, strength, shape in (
        ((0.25, 0.30), 4, 3.0, np.ones(weeks)),
        ((0.70, 0.65), 3, 2.0, np.ones(weeks)),
        ((0.40, 0.80), 3, 3.0, t),
        ((0.80, 0.20), 4, 3.0, 1 - t),
    ):
        d2 = (rows - r0 * side) ** 2 + (cols - c0 * side) ** 2
        bump = strength * np.exp(-d2 / (2 * radius**2))
        rate += bump[:, None] * shape[None, :]
    cube = rng.poisson(rate).astype(float)
    return boxes, ids, cube


def naive_gi_star_loop(y, neighbours):
    """Compute Gi* z-scores one grid at a time in Python (the naive way)."""
    n = len(y)
    mean = y.mean()
    s = y.std()
    z = np.empty(len(neighbours))
    for k, members in enumerate(neighbours):
        w = len(members)
        z[k] = (y[members].sum() - mean * w) / (s * np.sqrt((n * w - w * w) / (n - 1)))
    return z


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", type=int, default=100, help="grids per side")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--subset", type=int, default=1000, help="grids for slow baselines")
    args = parser.parse_args()
    repeats, side, weeks = args.repeats, args.side, args.weeks
    n = side * side
    subset = min(args.subset, n)
    scale = n / subset
    slow_repeats = max(1, min(3, repeats))

    boxes, ids, cube = synthetic_district(side, weeks)
    totals = cube.sum(axis=1)
    gdf = gpd.GeoDataFrame({"grid": ids}, geometry=boxes).set_index("grid")
    rows = []

    # 1. Contiguity weights.
    ours, graph = median_time(lambda: hs.contiguity_weights(gdf), repeats)

    def queen():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return libpysal.weights.Queen.from_dataframe(gdf, use_index=True)

    base, w_queen = median_time(queen, slow_repeats)
    rows.append(
        (
            f"queen contiguity weights, {n:,} grids",
            ours,
            "`libpysal.weights.Queen.from_dataframe` (legacy W)",
            base,
            "",
        )
    )

    # 2. Gi* with 999 permutations.
    ours, gi = median_time(
        lambda: hs.getis_ord_gi_star(totals, graph, permutations=999, seed=1), slow_repeats
    )

    def esda_defaults():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return esda.G_Local(totals, w_queen, transform="B", star=True, permutations=999)

    base, _ = median_time(esda_defaults, slow_repeats)
    rows.append(
        (
            f"Gi* + 999 permutations + FDR classes, {n:,} grids",
            ours,
            "esda `G_Local` defaults on legacy W (keep_simulations=True, n_jobs=-1)",
            base,
            "≤ 3 s",
        )
    )

    # 3. Emerging hot spots on grids × weeks.
    ours, emerging = median_time(lambda: hs.emerging_hot_spots(cube, graph), slow_repeats)
    slice_time, _ = median_time(
        lambda: hs.emerging_hot_spots(cube, graph, time_steps=0, global_window="slice"),
        slow_repeats,
    )

    def naive_emerging():
        # Gi* per week with esda (analytic only), then a per-grid Python loop
        # of scipy's Kendall tau and of the classification, on a subset.
        start = time.perf_counter()
        z = np.empty_like(cube)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for week in range(weeks):
                z[:, week] = esda.G_Local(
                    cube[:, week], graph, transform="B", star=True, permutations=0
                ).Zs
        gi_part = time.perf_counter() - start
        start = time.perf_counter()
        p = 2 * stats.norm.sf(np.abs(np.nan_to_num(z)))
        q = hs.fdr_adjust(p.ravel()).reshape(p.shape)
        time_axis = np.arange(weeks)
        for k in range(subset):
            trend = stats.kendalltau(time_axis, np.nan_to_num(z[k]))
            hot = (q[k] <= 0.10) & (z[k] > 0)
            cold = (q[k] <= 0.10) & (z[k] < 0)
            hs.classify_emerging(hot[None], cold[None], [trend.statistic], [trend.pvalue])
        return gi_part + (time.perf_counter() - start) * scale

    base = statistics.median(naive_emerging() for _ in range(slow_repeats))
    rows.append(
        (
            f"emerging hot spots, {n:,} grids × {weeks} weeks",
            ours,
            f"esda `G_Local` per week + per-grid Python loop (kendalltau, rules) on "
            f"{subset:,} grids × {scale:g}",
            base,
            "≤ 15 s",
        )
    )
    rows.append(
        (
            "… same, per-week spatial Gi* (`time_steps=0`, `global_window='slice'`)",
            slice_time,
            "same baseline",
            base,
            "≤ 15 s",
        )
    )

    # 3b. The analytic Gi* of one week: vectorised vs one grid at a time.
    position = {grid: k for k, grid in enumerate(graph.unique_ids)}
    neighbours = [
        np.array([k] + [position[j] for j in graph.neighbors[grid]])
        for k, grid in enumerate(graph.unique_ids)
    ]
    ours, _ = median_time(
        lambda: hs.gi_star_cube(cube[:, -1:], graph, time_steps=0, global_window="slice"),
        repeats,
    )
    base, _ = median_time(lambda: naive_gi_star_loop(cube[:, -1], neighbours), slow_repeats)
    rows.append(
        (
            f"analytic Gi* of one week, {n:,} grids",
            ours,
            "Python loop, one grid at a time",
            base,
            "",
        )
    )

    # 4. Mann–Kendall alone.
    z_cube = hs.gi_star_cube(cube, graph)
    ours, _ = median_time(lambda: hs.mann_kendall(z_cube), repeats)

    def kendall_loop():
        start = time.perf_counter()
        time_axis = np.arange(weeks)
        for k in range(subset):
            stats.kendalltau(time_axis, z_cube[k])
        return (time.perf_counter() - start) * scale

    base = statistics.median(kendall_loop() for _ in range(slow_repeats))
    rows.append(
        (
            f"Mann–Kendall, {n:,} series × {weeks}",
            ours,
            f"`scipy.stats.kendalltau` per series on {subset:,} × {scale:g}",
            base,
            "",
        )
    )

    # 5. Kernel density of a year of cases.
    rng = np.random.default_rng(5)
    grid_of_case = np.repeat(np.arange(n), totals.astype(int))
    r, c = np.divmod(grid_of_case, side)
    points = np.column_stack(
        [
            (c + rng.uniform(size=len(c))) * CELL,
            (r + rng.uniform(size=len(r))) * CELL,
        ]
    )
    bbox = (0.0, 0.0, side * CELL, side * CELL)
    ours, raster = median_time(lambda: hs.kernel_density(points, bbox, 50.0, 500.0), repeats)
    base, _ = median_time(
        lambda: hs.kernel_density(points, bbox, 50.0, 500.0, method="exact"), slow_repeats
    )
    rows.append(
        (
            f"quartic KDE, {len(points):,} cases, {raster.values.shape[0]}² cells of 50 m, "
            "h = 500 m",
            ours,
            "`method='exact'` (kernel at every cell from each point)",
            base,
            "",
        )
    )

    print(f"# Hotspot statistics benchmark ({n:,} grids, {weeks} weeks)\n")
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, esda "
        f"{esda.__version__}, libpysal {libpysal.__version__}, {os.cpu_count()} CPU(s), "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
        f"median of {repeats} runs ({slow_repeats} for slow steps).\n"
    )
    print("| step | ours (s) | baseline | baseline (s) | speed-up | target |")
    print("|---|---:|---|---:|---:|---|")
    for step, ours_s, what, base_s, target in rows:
        print(
            f"| {step} | {ours_s:.3f} | {what} | {base_s:.3f} | {base_s / ours_s:.1f}× | {target} |"
        )
    print()
    print(
        "Gi* classes: "
        + ", ".join(f"{k:+d}: {v}" for k, v in sorted(gi["gi_bin"].value_counts().items()))
    )
    print(
        "Emerging patterns: "
        + ", ".join(f"{k}: {v}" for k, v in emerging["pattern"].value_counts().items())
    )


if __name__ == "__main__":
    main()
