"""
Benchmark the hotspot analysis service on the city-scale district: caches and page parts.

Run from the repository root (it uses, and if needed builds, the gridmap_bench database:
10,000 grids, 1,000,000 persons, 500,000 cases):

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_hotspot_service.py

Options: --repeats N (default 3), --weeks W (period length, default 26),
--database-url URL (default: gridmap_bench in the project-local cluster, or
$BENCH_DATABASE_URL).

Rows, each as the median of N runs, target side by side with its baseline:

- contiguity weights of the district: cached (per grid-layer version) vs built from
  the grid polygons in PostGIS;
- the whole analysis (indicators, weekly cube, Gi*, Local Moran, emerging hot spots,
  KDE): cached result (per query and data version) vs computed;
- the data version stamp: primary keys + statistics counters vs counting rows;
- the map of 10,000 grids: one styled GeoJSON layer vs folium.GeoJson + style_function.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def default_database_url():
    port = (ROOT / "var" / "pg" / "port").read_text().strip()
    return f"postgis://gridmap@127.0.0.1:{port}/gridmap_bench"


def ensure_database(url):
    """Create and fill the city-scale bench database when it is missing or empty."""
    import psycopg2

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgis://", "postgresql://") + "/postgres"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
        if not exists:
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    check = psycopg2.connect(url.replace("postgis://", "postgresql://"))
    with check.cursor() as cursor:
        cursor.execute("SELECT to_regclass('layers_grid') IS NOT NULL")
        migrated = cursor.fetchone()[0]
        grids = 0
        if migrated:
            cursor.execute("SELECT count(*) FROM layers_grid")
            grids = cursor.fetchone()[0]
    check.close()
    if grids >= 5000:
        # Already built (perhaps by another bench): leave its schema and data alone.
        return
    env = {**os.environ, "DATABASE_URL": url}
    py = sys.executable
    subprocess.run(
        [py, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    print(f"Generating the city-scale district in {name} (a few minutes)…", flush=True)
    subprocess.run(
        [py, "manage.py", "generate_district", "--scale", "city", "--replace"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def median_time(function, repeats, setup=None):
    times = []
    result = None
    for _ in range(repeats):
        if setup:
            setup()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or default_database_url()
    )
    args = parser.parse_args()

    ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")
    import django

    django.setup()

    import folium
    from django.core.cache import cache
    from django.db import connection

    from cases.hotspots import forms, service, sql, stats, views
    from cases.hotspots.indicators import Period
    from gridmap import maps
    from layers.models import Grid

    ids = sorted(Grid.objects.current().values_list("id", flat=True))
    end = forms.today()
    period = Period(end - timedelta(weeks=args.weeks) + timedelta(days=1), end)
    area = service.Area("scope", None, ids, [("scope", None, "全区")])
    query = service.Query(period=period, weights=forms.DEFAULT_WEIGHTS)
    rows = []

    # Weights: cached vs built.
    def build_weights():
        import shapely

        geoms = sql.grid_geometries(grid_ids=ids)
        return stats.contiguity_weights(
            shapely.from_wkb([w for _, w in geoms]), ids=[g for g, _ in geoms]
        )

    t_build, _ = median_time(build_weights, args.repeats)
    service.weights_for(ids)
    t_cached, _ = median_time(lambda: service.weights_for(ids), args.repeats)
    rows.append(
        ("contiguity weights, 10,000 grids", "cache hit", t_cached, "built from PostGIS", t_build)
    )

    # The analysis: cached vs computed.
    timings = []

    def computed():
        cache.clear()
        result = service.analyse(area=area, query=query)
        timings.append(result["timings"])
        return result

    t_cold, result = median_time(computed, args.repeats)
    service.analyse(area=area, query=query)
    t_warm, _ = median_time(lambda: service.analyse(area=area, query=query), args.repeats)
    rows.append(
        (
            f"analysis, 10,000 grids × {len(result['weekly'].columns)} weeks",
            "cached result",
            t_warm,
            "computed (no cache)",
            t_cold,
        )
    )

    # Data version stamp: counters vs counting.
    def counted():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) || ':' || max(updated_at) FROM cases_case),"
                " (SELECT count(*) || ':' || max(updated_at) FROM layers_person),"
                " (SELECT count(*) || ':' || max(updated_at) FROM layers_rentalhouse)"
            )
            return cursor.fetchone()

    t_stamp, _ = median_time(sql.data_stamp, args.repeats)
    t_count, _ = median_time(counted, args.repeats)
    rows.append(
        ("data version stamp", "ids + stats counters", t_stamp, "count + max(updated_at)", t_count)
    )

    # The map: one styled layer vs folium.GeoJson with a style_function.
    views.grid_features(ids)
    t_map, parts = median_time(lambda: views.build_map(result, "gi", ids), args.repeats)

    def folium_map():
        from layers.sql import area_feature_collection

        collection = area_feature_collection("grid", ids=ids)
        colours = views.grid_styles(result, "gi")
        fmap = maps.base_map()
        folium.GeoJson(
            collection,
            style_function=lambda f: {
                "fillColor": colours[f["properties"]["id"]][0],
                "weight": 0.7,
            },
        ).add_to(fmap)
        return maps.parts(fmap)

    t_folium, folium_parts = median_time(folium_map, args.repeats)
    size = sum(len(v) for v in parts.values()) / 1e6
    folium_size = sum(len(v) for v in folium_parts.values()) / 1e6
    rows.append(
        (
            f"map of 10,000 grids ({size:.1f} MB vs {folium_size:.1f} MB)",
            "styled GeoJSON layer",
            t_map,
            "folium.GeoJson + style_function",
            t_folium,
        )
    )

    print(
        f"\n### Hotspot service, {len(ids):,} grids, period {period.label()}"
        f" ({args.repeats} runs, median)\n"
    )
    print("| step | target | s | baseline | s | speed-up |")
    print("|---|---|---:|---|---:|---:|")
    for name, target, t, base, b in rows:
        print(f"| {name} | {target} | {t:.3f} | {base} | {b:.3f} | {b / t:.1f}× |")
    parts_median = {k: statistics.median(t[k] for t in timings if k in t) for k in timings[0]}
    print(
        "\nComputed analysis, median seconds per part: "
        + ", ".join(f"{k} {v:.2f}" for k, v in parts_median.items())
    )


if __name__ == "__main__":
    main()
