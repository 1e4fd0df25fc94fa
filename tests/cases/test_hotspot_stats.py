"""Tests of the hotspot statistics core (pure: no database)."""

import math
import warnings

import esda
import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph
from scipy import stats

from cases.hotspots import stats as hs

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


def lattice_boxes(rows, cols, size=100.0):
    """Return square grid polygons, row-major, and their ids."""
    ys, xs = np.divmod(np.arange(rows * cols), cols)
    boxes = shapely.box(xs * size, ys * size, (xs + 1) * size, (ys + 1) * size)
    ids = [f"G{r:03d}{c:03d}" for r, c in zip(ys, xs, strict=True)]
    return boxes, ids


def lattice_graph(rows, cols):
    boxes, ids = lattice_boxes(rows, cols)
    return hs.contiguity_weights(boxes, ids)


def cell(rows_cols, r, c):
    """Return the position of lattice cell (r, c) in row-major order."""
    return r * rows_cols[1] + c


def hand_gi_star(y, graph):
    """Compute Gi* z-scores from the textbook formula, one cell at a time."""
    n = len(y)
    mean = y.mean()
    s = math.sqrt((y**2).mean() - mean**2)
    position = {grid: k for k, grid in enumerate(graph.unique_ids)}
    z = np.empty(n)
    for k, grid in enumerate(graph.unique_ids):
        members = [k] + [position[j] for j in graph.neighbors[grid]]
        weight_sum = float(len(members))  # binary weights, self included
        local = sum(y[j] for j in members)
        spread = math.sqrt((n * weight_sum - weight_sum**2) / (n - 1))
        z[k] = (local - mean * weight_sum) / (s * spread)
    return z


@pytest.fixture
def counts_10x10():
    rng = np.random.default_rng(42)
    y = rng.poisson(3.0, 100).astype(float)
    # A planted hot spot in one corner and a cold spot in the other.
    for r in range(3):
        for c in range(3):
            y[cell((10, 10), r, c)] += 12
            y[cell((10, 10), 9 - r, 9 - c)] = 0
    return y


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


def test_contiguity_weights_are_binary_queen_in_input_order():
    boxes, ids = lattice_boxes(3, 3)
    graph = hs.contiguity_weights(boxes, ids)
    assert list(graph.unique_ids) == ids
    assert graph.transformation == "B"
    assert set(graph.adjacency.to_numpy()) == {1}
    # Corner 3, edge 5, centre 8 neighbours: queen, not rook.
    assert graph.cardinalities.tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]


def test_contiguity_weights_join_an_island_to_its_nearest_grid():
    boxes, ids = lattice_boxes(3, 3)
    island = shapely.box(500, 100, 600, 200)  # nearest centroid: G001002
    graph = hs.contiguity_weights([*boxes, island], [*ids, "lake"])
    assert len(graph.isolates) == 0
    assert list(graph.neighbors["lake"]) == ["G001002"]
    assert "lake" in list(graph.neighbors["G001002"])


def test_contiguity_weights_keep_islands_on_request():
    boxes, ids = lattice_boxes(3, 3)
    island = shapely.box(500, 50, 600, 150)
    graph = hs.contiguity_weights([*boxes, island], [*ids, "lake"], islands="keep")
    assert list(graph.isolates) == ["lake"]


def test_contiguity_weights_reject_duplicate_ids():
    boxes, _ = lattice_boxes(1, 2)
    with pytest.raises(ValueError, match="unique"):
        hs.contiguity_weights(boxes, ["a", "a"])


def test_contiguity_weights_reject_a_grid_without_polygon():
    boxes, ids = lattice_boxes(1, 2)
    with pytest.raises(ValueError, match="non-empty polygon"):
        hs.contiguity_weights([boxes[0], shapely.Polygon()], ids)


# ---------------------------------------------------------------------------
# Multiple testing
# ---------------------------------------------------------------------------


def test_fdr_adjust_matches_scipy_false_discovery_control():
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(size=500), rng.uniform(0, 0.001, size=50)])
    p[10] = p[11]  # a tie
    np.testing.assert_allclose(
        hs.fdr_adjust(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12
    )


def test_fdr_adjust_leaves_nan_out_of_the_family():
    p = np.array([0.01, np.nan, 0.04, 0.03, np.nan])
    q = hs.fdr_adjust(p)
    assert np.isnan(q[[1, 4]]).all()
    np.testing.assert_allclose(
        q[[0, 2, 3]], stats.false_discovery_control([0.01, 0.04, 0.03], method="bh")
    )


def test_gi_bin_uses_arcgis_confidence_levels():
    z = np.array([3.0, 2.0, 1.7, 0.5, -1.7, -2.0, -3.0, 2.0])
    p = np.array([0.005, 0.03, 0.09, 0.6, 0.09, 0.03, 0.005, np.nan])
    assert hs.gi_bin(z, p).tolist() == [3, 2, 1, 0, -1, -2, -3, 0]


# ---------------------------------------------------------------------------
# Gi*
# ---------------------------------------------------------------------------


def test_gi_star_equals_esda_reference_on_lat2w(counts_10x10):
    w = libpysal.weights.lat2W(10, 10, rook=False)
    result = hs.getis_ord_gi_star(counts_10x10, w, permutations=199, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = esda.G_Local(
            counts_10x10,
            w,
            transform="B",
            star=True,
            permutations=199,
            seed=7,
            keep_simulations=False,
            n_jobs=1,
        )
    np.testing.assert_allclose(result["z"], reference.Zs, rtol=1e-12)
    # esda's p-values are one-sided; ours are two-sided.
    np.testing.assert_allclose(result["p_norm"], 2 * reference.p_norm, rtol=1e-12)
    np.testing.assert_allclose(result["p_sim"], np.minimum(1, 2 * reference.p_sim), rtol=1e-6)


def test_gi_star_equals_the_textbook_formula(counts_10x10):
    graph = lattice_graph(10, 10)
    result = hs.getis_ord_gi_star(counts_10x10, graph, permutations=0)
    np.testing.assert_allclose(result["z"], hand_gi_star(counts_10x10, graph), rtol=1e-10)
    np.testing.assert_allclose(result["p_norm"], 2 * stats.norm.sf(np.abs(result["z"])), rtol=1e-12)
    assert result["p_sim"].isna().all()


def test_gi_star_classes_find_the_planted_hot_and_cold_spots(counts_10x10):
    graph = lattice_graph(10, 10)
    result = hs.getis_ord_gi_star(counts_10x10, graph, permutations=99)
    assert result.loc["G001001", "gi_bin"] == 3
    assert result.loc["G008008", "gi_bin"] < 0
    # Classes come from the BH-adjusted analytic p-value by default.
    np.testing.assert_allclose(result["q"], hs.fdr_adjust(result["p_norm"]))
    np.testing.assert_array_equal(result["gi_bin"], hs.gi_bin(result["z"], result["q"]))


def test_gi_star_classes_can_use_the_permutation_p_value(counts_10x10):
    graph = lattice_graph(10, 10)
    result = hs.getis_ord_gi_star(counts_10x10, graph, permutations=99, p_value="sim", fdr=False)
    np.testing.assert_array_equal(result["q"], result["p_sim"])
    assert result["p_sim"].min() >= 2 / 100


def test_gi_star_aligns_a_series_by_grid_id(counts_10x10):
    graph = lattice_graph(10, 10)
    series = pd.Series(counts_10x10, index=graph.unique_ids)
    shuffled = series.sample(frac=1, random_state=3)
    a = hs.getis_ord_gi_star(series, graph, permutations=0)
    b = hs.getis_ord_gi_star(shuffled, graph, permutations=0)
    pd.testing.assert_frame_equal(a, b)


def test_gi_star_rejects_misaligned_or_missing_values():
    graph = lattice_graph(3, 3)
    with pytest.raises(ValueError, match="9 grids"):
        hs.getis_ord_gi_star(np.ones(8), graph)
    with pytest.raises(ValueError, match="NaN"):
        hs.getis_ord_gi_star([1, 2, 3, 4, np.nan, 6, 7, 8, 9], graph)


def test_gi_star_of_equal_values_is_not_significant():
    graph = lattice_graph(3, 3)
    result = hs.getis_ord_gi_star(np.full(9, 4.0), graph, permutations=9)
    assert (result["z"] == 0).all()
    assert (result["gi_bin"] == 0).all()


def test_islands_do_not_crash_and_are_not_significant():
    boxes, ids = lattice_boxes(5, 5)
    island = shapely.box(2000, 2000, 2100, 2100)
    graph = hs.contiguity_weights([*boxes, island], [*ids, "lake"], islands="keep")
    rng = np.random.default_rng(5)
    y = rng.poisson(4.0, 26).astype(float)
    y[-1] = 50  # an extreme island must still not be called a hot spot
    gi = hs.getis_ord_gi_star(y, graph, permutations=99)
    assert gi.loc["lake", "island"]
    assert np.isnan(gi.loc["lake", "z"]) and gi.loc["lake", "gi_bin"] == 0
    assert gi["z"].drop("lake").notna().all()
    lisa = hs.local_moran(y, graph, permutations=99)
    assert lisa.loc["lake", "cluster"] == "NS"
    cube = rng.poisson(4.0, (26, 12)).astype(float)
    emerging = hs.emerging_hot_spots(cube, graph)
    assert emerging.loc["lake", "pattern"] == "no_pattern"


# ---------------------------------------------------------------------------
# Space-time Gi*
# ---------------------------------------------------------------------------


def test_gi_star_cube_per_slice_equals_esda_per_time_step():
    graph = lattice_graph(6, 6)
    rng = np.random.default_rng(11)
    cube = rng.poisson(2.0, (36, 4)).astype(float)
    z = hs.gi_star_cube(cube, graph, time_steps=0, global_window="slice")
    for t in range(cube.shape[1]):
        reference = hs.getis_ord_gi_star(cube[:, t], graph, permutations=0)
        np.testing.assert_allclose(z[:, t], reference["z"], rtol=1e-10)


def test_gi_star_cube_space_time_neighbourhood_matches_brute_force():
    rows_cols = (4, 4)
    graph = lattice_graph(*rows_cols)
    rng = np.random.default_rng(3)
    cube = rng.poisson(3.0, (16, 6)).astype(float)
    k = 2
    z = hs.gi_star_cube(cube, graph, time_steps=k, global_window="cube")
    all_bins = cube.ravel()
    n, mean, s = all_bins.size, all_bins.mean(), all_bins.std()
    position = {grid: i for i, grid in enumerate(graph.unique_ids)}
    for i, grid in enumerate(graph.unique_ids):
        members = [i] + [position[j] for j in graph.neighbors[grid]]
        for t in range(cube.shape[1]):
            window = [(j, u) for j in members for u in range(max(0, t - k), t + 1)]
            weight_sum = len(window)
            local = sum(cube[j, u] for j, u in window)
            spread = math.sqrt((n * weight_sum - weight_sum**2) / (n - 1))
            expected = (local - mean * weight_sum) / (s * spread)
            assert z[i, t] == pytest.approx(expected, rel=1e-10)


def test_gi_star_cube_rejects_a_slice_window_across_time():
    graph = lattice_graph(3, 3)
    with pytest.raises(ValueError, match="time_steps=0"):
        hs.gi_star_cube(np.ones((9, 5)), graph, time_steps=1, global_window="slice")


# ---------------------------------------------------------------------------
# Local Moran's I
# ---------------------------------------------------------------------------


def test_local_moran_equals_esda_and_labels_quadrants():
    graph = lattice_graph(10, 10)
    rng = np.random.default_rng(8)
    y = rng.normal(10, 1, 100)
    for r in range(3, 6):
        for c in range(3, 6):
            y[cell((10, 10), r, c)] = 25  # high among high: HH at the centre
    for r in range(7, 10):
        for c in range(0, 3):
            y[cell((10, 10), r, c)] = 5
    y[cell((10, 10), 8, 1)] = 25  # high among low: HL
    result = hs.local_moran(y, graph, permutations=999, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = esda.Moran_Local(y, graph, permutations=999, seed=3, keep_simulations=False)
    np.testing.assert_allclose(result["i"], reference.Is, rtol=1e-12)
    np.testing.assert_allclose(result["p_sim"], np.minimum(1, 2 * reference.p_sim), rtol=1e-6)
    assert result.loc["G004004", "cluster"] == "HH"
    assert result.loc["G008001", "cluster"] == "HL"
    assert result.loc["G008001", "quadrant"] == "HL"
    not_significant = result["q"] > 0.05
    assert (result.loc[not_significant, "cluster"] == "NS").all()


# ---------------------------------------------------------------------------
# Mann–Kendall
# ---------------------------------------------------------------------------


def test_mann_kendall_textbook_increasing_series():
    # n = 5, no ties: S = 10, Var(S) = 5·4·15/18, z = (10 − 1)/sqrt(Var).
    result = hs.mann_kendall([1.0, 2.0, 3.0, 4.0, 5.0])
    assert result.s == 10
    assert result.var_s == pytest.approx(50 / 3)
    assert result.z == pytest.approx(9 / math.sqrt(50 / 3))
    assert result.p == pytest.approx(0.02749, abs=1e-5)
    assert result.tau == 1.0 and result.trend == 1


def test_mann_kendall_tie_correction_by_hand():
    # x = 1, 2, 2, 3: S = 5; one tie group of 2: Var = (4·3·13 − 2·1·9)/18.
    result = hs.mann_kendall([1.0, 2.0, 2.0, 3.0])
    assert result.s == 5
    assert result.var_s == pytest.approx((156 - 18) / 18)
    assert result.z == pytest.approx(4 / math.sqrt(138 / 18))
    assert result.tau == pytest.approx(5 / math.sqrt(6 * 5))


def test_mann_kendall_matches_scipy_kendalltau_against_time():
    rng = np.random.default_rng(2)
    series = rng.integers(0, 6, size=(40, 30)).astype(float)  # many ties
    series[:10] += np.arange(30) * 0.3  # some with a trend
    result = hs.mann_kendall(series, continuity=False)
    time = np.arange(30)
    for row, x in enumerate(series):
        reference = stats.kendalltau(time, x, method="asymptotic")
        assert result.tau[row] == pytest.approx(reference.statistic, rel=1e-10)
        assert result.p[row] == pytest.approx(reference.pvalue, rel=1e-8)


def test_mann_kendall_vectorised_equals_one_series_at_a_time():
    rng = np.random.default_rng(4)
    series = rng.normal(size=(25, 52))
    many = hs.mann_kendall(series, chunk_size=7)
    for row, x in enumerate(series):
        one = hs.mann_kendall(x)
        assert (many.s[row], many.z[row], many.p[row]) == (one.s, one.z, one.p)


def test_mann_kendall_of_a_constant_series_has_no_trend():
    result = hs.mann_kendall(np.full((2, 10), 3.0))
    assert (result.z == 0).all() and (result.p == 1).all()
    assert (result.trend == 0).all()


# ---------------------------------------------------------------------------
# Emerging hot spots: the rules on hand-built series
# ---------------------------------------------------------------------------

H, C, _ = 1, -1, 0


def classify(rows, trend_z=0.0, trend_p=1.0):
    """Classify hand-written rows of +1 (hot), -1 (cold), 0 (neither)."""
    states = np.array(rows)
    return hs.classify_emerging(
        states == 1,
        states == -1,
        np.broadcast_to(trend_z, len(rows)),
        np.broadcast_to(trend_p, len(rows)),
    ).tolist()


def ten(*states):
    """Return a series of 10 steps, padded at the front with "neither"."""
    return [_] * (10 - len(states)) + list(states)


@pytest.mark.parametrize(
    "series, trend_z, trend_p, expected",
    [
        (ten(H), 0, 1, "new_hot_spot"),
        (ten(C), 0, 1, "new_cold_spot"),
        (ten(H, H, H), 0, 1, "consecutive_hot_spot"),
        (ten(C, C, C), 0, 1, "consecutive_cold_spot"),
        ([H] * 10, 3.0, 0.001, "intensifying_hot_spot"),
        ([C] * 10, -3.0, 0.001, "intensifying_cold_spot"),
        ([H] * 10, 0.5, 0.6, "persistent_hot_spot"),
        ([C] * 10, -0.5, 0.6, "persistent_cold_spot"),
        ([H] * 10, -3.0, 0.001, "diminishing_hot_spot"),
        ([C] * 10, 3.0, 0.001, "diminishing_cold_spot"),
        ([H, _, H, _, _, H, _, _, _, H], 0, 1, "sporadic_hot_spot"),
        ([C, _, C, _, _, C, _, _, _, C], 0, 1, "sporadic_cold_spot"),
        ([C, C, _, _, H, _, _, _, _, H], 0, 1, "oscillating_hot_spot"),
        ([H, H, _, _, C, _, _, _, _, C], 0, 1, "oscillating_cold_spot"),
        ([H] * 9 + [_], 0, 1, "historical_hot_spot"),
        ([C] * 9 + [_], 0, 1, "historical_cold_spot"),
        ([_] * 10, 0, 1, "no_pattern"),
        ([_, H, H, _, _, _, _, _, _, _], 0, 1, "no_pattern"),
    ],
)
def test_classify_emerging_follows_arcgis_definitions(series, trend_z, trend_p, expected):
    (category,) = classify([series], trend_z, trend_p)
    assert hs.EMERGING_PATTERNS[category] == expected


def test_classify_emerging_edge_cases():
    # A run that is not the only hot spell is sporadic, not consecutive.
    assert classify([ten(H, _, H, H)]) == [6]
    # A one-bin final hot spot after a cold spell oscillates rather than being new.
    assert classify([ten(C, _, H)]) == [7]
    # Hot for 90 % but cold now: the present state decides (oscillating cold).
    assert classify([[H] * 9 + [C]]) == [-7]
    # Hot for < 90 % and not hot now: no pattern, however hot it was.
    assert classify([[H] * 8 + [_, _]]) == [0]
    # A significant trend alone does not make a pattern.
    assert classify([[_] * 10], trend_z=4.0, trend_p=1e-5) == [0]


# ---------------------------------------------------------------------------
# Emerging hot spots: end to end on a planted cube
# ---------------------------------------------------------------------------

STEPS = 20
BACKGROUND, HOT, COLD = 20.0, 60.0, 0.0


def profile(pattern, t):
    """Return the value of a planted block at step t, or None for background."""
    last = STEPS - 1
    sign = 1 if pattern.endswith("hot") else -1
    spot, other = (HOT, COLD) if sign == 1 else (COLD, HOT)
    kind = pattern.rsplit("_", 1)[0]
    if kind == "new":
        return spot if t == last else None
    if kind == "consecutive":
        return spot if t >= last - 3 else None
    if kind == "intensifying":
        return 40 + 2 * t if sign == 1 else 8 - 0.4 * t
    if kind == "diminishing":
        return 80 - 2 * t if sign == 1 else 0.4 * t
    if kind == "persistent":
        return spot + (-1) ** t
    if kind == "sporadic":
        return spot if t in (3, 8, 13, last) else None
    if kind == "oscillating":
        return other if t in (2, 3, 4) else spot if t in (10, last) else None
    if kind == "historical":
        return spot if t < last else None
    return None


PLANTED = [
    f"{kind}_{side}"
    for side in ("hot", "cold")
    for kind in (
        "new",
        "consecutive",
        "intensifying",
        "persistent",
        "diminishing",
        "sporadic",
        "oscillating",
        "historical",
    )
] + ["none"]


@pytest.fixture(scope="module")
def planted_cube():
    rows_cols = (40, 40)
    graph = lattice_graph(*rows_cols)
    rng = np.random.default_rng(2022)
    cube = rng.poisson(BACKGROUND, (1600, STEPS)).astype(float)
    centres = {}
    for k, pattern in enumerate(PLANTED):
        r, c = 4 + 8 * (k // 5), 4 + 8 * (k % 5)
        centres[pattern] = f"G{r:03d}{c:03d}"
        for t in range(STEPS):
            value = profile(pattern, t)
            if value is None:
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    cube[cell(rows_cols, r + dr, c + dc), t] = value
    return graph, cube, centres


@pytest.mark.parametrize("pattern", PLANTED)
def test_emerging_hot_spots_find_each_planted_pattern(planted_cube, pattern):
    graph, cube, centres = planted_cube
    result = hs.emerging_hot_spots(cube, graph, time_steps=0)
    expected = "no_pattern" if pattern == "none" else pattern + "_spot"
    assert result.loc[centres[pattern], "pattern"] == expected


def test_emerging_hot_spots_with_arcgis_default_time_window(planted_cube):
    graph, cube, centres = planted_cube
    result, bins = hs.emerging_hot_spots(cube, graph, return_bins=True)
    for pattern in ("new_hot", "consecutive_hot", "intensifying_hot", "new_cold"):
        assert result.loc[centres[pattern], "pattern"] == pattern + "_spot"
    assert bins["z"].shape == cube.shape
    row = list(graph.unique_ids).index(centres["new_hot"])
    assert bins["gi_bin"][row, -1] == 3
    assert result.loc[centres["new_hot"], "pattern_zh"] == "新增的热点"


def test_emerging_hot_spots_accept_a_frame_indexed_by_grid(planted_cube):
    graph, cube, _ = planted_cube
    frame = pd.DataFrame(cube, index=graph.unique_ids).iloc[::-1]
    a = hs.emerging_hot_spots(cube, graph)
    b = hs.emerging_hot_spots(frame, graph)
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------------------
# Kernel density
# ---------------------------------------------------------------------------


@pytest.fixture
def case_points():
    rng = np.random.default_rng(9)
    return rng.uniform(2_000, 8_000, size=(3_000, 2))


@pytest.mark.parametrize("method", ["binned", "exact"])
@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_kernel_density_integrates_to_the_number_of_cases(case_points, method, kernel):
    bandwidth = 400 if kernel == "quartic" else 150
    raster = hs.kernel_density(
        case_points, (0, 0, 10_000, 10_000), 50, bandwidth, kernel=kernel, method=method
    )
    cell_km2 = (50 / 1000) ** 2
    assert raster.values.sum() * cell_km2 == pytest.approx(len(case_points), rel=1e-3)
    assert raster.unit == "cases/km²"


def test_kernel_density_binned_is_close_to_exact(case_points):
    args = (case_points, (0, 0, 10_000, 10_000), 25, 500)
    binned = hs.kernel_density(*args).values
    exact = hs.kernel_density(*args, method="exact").values
    assert np.abs(binned - exact).max() < 0.03 * exact.max()


def test_kernel_density_peak_of_one_point_is_the_quartic_kernel():
    # One case at a cell centre: peak 3 / (π h²) per m², in cases per km².
    raster = hs.kernel_density([[1025.0, 1025.0]], (0, 0, 2000, 2000), 50, 300, method="exact")
    assert raster.values.max() == pytest.approx(3 / (math.pi * 300**2) * 1e6)
    # Row 0 is the north edge: the point at y = 1025 is in row 19 of 40.
    assert np.unravel_index(raster.values.argmax(), raster.values.shape) == (19, 20)
    assert raster.geotransform == (0.0, 50.0, 0.0, 2000.0, 0.0, -50.0)
    assert raster.bounds == (0.0, 0.0, 2000.0, 2000.0)


def test_kernel_density_counts_weights_and_cases_just_outside_the_box():
    box = (0, 0, 1000, 1000)
    once = hs.kernel_density([[500, 500]], box, 50, 200)
    twice = hs.kernel_density([[500, 500]], box, 50, 200, weights=[2])
    np.testing.assert_allclose(twice.values, 2 * once.values)
    outside = hs.kernel_density([[1100, 500]], box, 50, 200)
    assert outside.values[:, -1].max() > 0
    assert outside.values[:, 0].max() == 0


def test_kernel_density_rejects_bad_parameters():
    with pytest.raises(ValueError, match="positive"):
        hs.kernel_density([[0, 0]], (0, 0, 10, 10), 0, 5)
    with pytest.raises(ValueError, match="bbox"):
        hs.kernel_density([[0, 0]], (10, 0, 0, 10), 1, 5)


# ---------------------------------------------------------------------------
# Risk index
# ---------------------------------------------------------------------------


@pytest.fixture
def indicators():
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(
        rng.gamma(2.0, 3.0, size=(50, len(hs.RISK_INDICATORS))),
        columns=list(hs.RISK_INDICATORS),
        index=[f"G{i}" for i in range(50)],
    )
    frame["overdue_share"] = frame["overdue_share"] / frame["overdue_share"].max()
    return frame


def test_risk_index_by_hand():
    frame = pd.DataFrame(
        {"case_rate_per_1000": [2.0, 4.0, 6.0], "rental_density": [10.0, 30.0, 20.0]},
        index=["a", "b", "c"],
    )
    index = hs.risk_index(frame, {"case_rate_per_1000": 0.4, "rental_density": 0.6})
    np.testing.assert_allclose(index, [0.0, 0.4 * 0.5 + 0.6 * 1.0, 0.4 + 0.6 * 0.5])
    assert index.name == "risk_index" and list(index.index) == ["a", "b", "c"]


def test_risk_index_is_monotone_in_weights(indicators):
    rng = np.random.default_rng(7)
    for _ in range(20):
        low = dict(zip(indicators.columns, rng.uniform(0, 1, 6), strict=True))
        high = {name: w + rng.uniform(0, 0.5) for name, w in low.items()}
        assert (hs.risk_index(indicators, high) >= hs.risk_index(indicators, low) - 1e-12).all()


def test_risk_index_stays_in_unit_interval_with_weights_summing_to_one(indicators):
    weights = dict.fromkeys(indicators.columns, 1 / 6)
    index = hs.risk_index(indicators, weights)
    assert index.min() >= 0 and index.max() <= 1


def test_risk_index_accepts_numpy_weights(indicators):
    weights = {"rental_density": np.float32(0.5), "overdue_share": np.int64(1)}
    expected = hs.risk_index(indicators, {"rental_density": 0.5, "overdue_share": 1})
    pd.testing.assert_series_equal(hs.risk_index(indicators, weights), expected)


def test_risk_index_constant_indicator_counts_zero(indicators):
    indicators["tenants_per_room"] = 2.0
    index = hs.risk_index(indicators, {"tenants_per_room": 1.0})
    assert (index == 0).all()


@pytest.mark.parametrize(
    "weights, message",
    [
        ({}, "empty"),
        ({"rental_density": -1}, "negative"),
        ({"rental_density": 0}, "positive"),
        ({"no_such_column": 1}, "no_such_column"),
    ],
)
def test_risk_index_rejects_bad_weights(indicators, weights, message):
    with pytest.raises(ValueError, match=message):
        hs.risk_index(indicators, weights)


def test_formula_text_renders_the_formula_in_chinese():
    text = hs.formula_text({"case_rate_per_1000": 0.4, "overdue_share": 0.25})
    first_line = text.splitlines()[0]
    assert first_line == "风险指数 = 0.4 × 案件发生率（每千人）′ + 0.25 × 超期案件占比′"
    assert "最小–最大归一化" in text


# ---------------------------------------------------------------------------
# Graph input types
# ---------------------------------------------------------------------------


def test_functions_accept_a_legacy_w_or_a_graph(counts_10x10):
    w = libpysal.weights.lat2W(10, 10, rook=False)
    a = hs.getis_ord_gi_star(counts_10x10, w, permutations=0)
    b = hs.getis_ord_gi_star(counts_10x10, Graph.from_W(w), permutations=0)
    np.testing.assert_allclose(a["z"], b["z"])
