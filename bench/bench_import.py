"""
Benchmark the bulk import of persons and rental houses on the city-scale district.

Run from the repository root (it creates and fills the `gridmap_bench` database first
when it is missing — that takes about 15 minutes):

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_import.py \
        [--persons 1000000] [--rentals 200000] [--repeats 1]

Three ways to land the same rows, each in its own process (so that its peak memory is
its own) and inside a transaction that is rolled back (the bench database is unchanged):

* ours: `layers.importers.run_import` — read the CSV, validate every value (GB 11643
  check digits, phones, coordinates), encrypt and digest personal data, assign grids
  with an STRtree (smallest code on shared boundaries), upsert with COPY into the real,
  indexed tables;
* (a) the obvious way: the same prepared rows through geopandas `to_postgis`, then one
  `UPDATE … SET grid_id … FROM layers_grid WHERE ST_Intersects(…)` join. Only the write
  and the join are timed — validation and encryption are not charged to it;
* (b) the floor: `COPY` of the same prepared rows, grid ids precomputed, into an
  unlogged table without indexes. Only the COPY is timed.

Prints a Markdown table: wall time (median over repeats), rows/s, peak RSS, and the
ratios that the issue sets as targets (≥ 2.5× faster than (a), ≤ 2× the floor, ≤ 2 GB).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "gridmap_bench"
DATA_DIR = ROOT / "var" / "bench"


def bench_url():
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    port = (ROOT / "var" / "pg" / "port").read_text().strip()
    return f"postgis://gridmap@127.0.0.1:{port}/{BENCH_DB}"


def ensure_bench_db(url):
    """Create, migrate and fill the city-scale bench database when it is missing."""
    import psycopg2

    name = url.rsplit("/", 1)[1]
    admin = url.replace("postgis://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cur.fetchone() is not None
        if not exists:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    env = {**os.environ, "DATABASE_URL": url}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
    check = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from layers.models import Grid; print(Grid.objects.current().count())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    if int(check.stdout.strip().splitlines()[-1]) < 10_000:
        print("generating the city-scale district (once; ~15 min)…", file=sys.stderr)
        subprocess.run(
            [*manage, "generate_district", "--scale", "city", "--replace"], env=env, check=True
        )


# --- test data ---------------------------------------------------------------------------


def write_files(n_persons, n_rentals, seed=2026):
    """Write the persons and rentals CSVs (Chinese headers) once; return their paths."""
    import numpy as np
    import pandas as pd

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    persons = DATA_DIR / f"persons_{n_persons}.csv"
    rentals = DATA_DIR / f"rentals_{n_rentals}.csv"
    if persons.exists() and rentals.exists():
        return persons, rentals
    from fixtures.generator import _names, _phones

    rng = np.random.default_rng(seed)

    # The city's grids span lon 102.55–102.78, lat 24.90–25.13.
    def coords(n):
        return rng.uniform(102.551, 102.779, n).round(7), rng.uniform(24.901, 25.129, n).round(7)

    # Unique, valid ID numbers from regions that the city data does not use (all inserts).
    i = np.arange(n_persons)
    birth = pd.to_datetime("1960-01-01") + pd.to_timedelta(i // 1000, unit="D")
    body = (
        (
            pd.Series(np.where(i % 2, "110101", "310104"))
            + pd.Series(birth.strftime("%Y%m%d"))
            + pd.Series(i % 1000).astype(str).str.zfill(3)
        )
        .to_numpy()
        .astype("U17")
    )
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(-1, 17) - 48
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.array(list("10X98765432"))[(digits * weights).sum(axis=1) % 11]
    lon, lat = coords(n_persons)
    pd.DataFrame(
        {
            "姓名": _names(rng, n_persons),
            "身份证号": np.char.add(body, check),
            "联系电话": _phones(rng, n_persons),
            "地址": "城区某街道某号",
            "经度": lon,
            "纬度": lat,
            "人口类型": np.where(rng.random(n_persons) < 0.6, "流动", "户籍"),
        }
    ).to_csv(persons, index=False)
    lon, lat = coords(n_rentals)
    pd.DataFrame(
        {
            "房屋编号": np.char.add("BENCH", np.arange(n_rentals).astype("U8")),
            "地址": "城中村某巷某号",
            "房东": _names(rng, n_rentals),
            "房东电话": _phones(rng, n_rentals),
            "房间数": rng.integers(2, 16, n_rentals),
            "租住人数": rng.integers(0, 30, n_rentals),
            "经度": lon,
            "纬度": lat,
        }
    ).to_csv(rentals, index=False)
    return persons, rentals


# --- the three methods, each run in a child process ---------------------------------------


class _Rollback(Exception):
    pass


def _prepared_frames(kind, path):
    """Return the rows as our importer prepares them (validated, encrypted, assigned)."""
    import numpy as np

    from layers.importers import columns as cols
    from layers.importers.assign import AreaIndex
    from layers.importers.files import read_table
    from layers.importers.points import LAYERS
    from layers.importers.report import ImportReport

    report = ImportReport()
    layer = LAYERS[kind](crs="wgs84", report=report, index=AreaIndex())
    frames, done = [], 0
    for chunk in read_table(path, chunksize=100_000):
        found = cols.resolve(kind, list(chunk.columns))
        rows = np.arange(done + 2, done + 2 + len(chunk))
        frames.append(layer.prepare(chunk.reset_index(drop=True), found, rows))
        done += len(chunk)
    return frames


def run_method(method, persons, rentals):
    """Run one method in this process; return its timing as a dict."""
    import django

    django.setup()
    from django.db import connection, transaction

    from gridmap.copy import copy_frame

    files = {"rentals": rentals, "persons": persons}
    tables = {"rentals": "layers_rentalhouse", "persons": "layers_person"}
    result = {"method": method}
    if method == "obvious":
        prepared = {kind: _prepared_frames(kind, path) for kind, path in files.items()}
        result["rows"] = sum(len(f) for fs in prepared.values() for f in fs)
        result["seconds"] = _obvious(prepared)
    try:
        # Rolled back at the end: the bench database stays as generated.
        with transaction.atomic():
            if method == "ours":
                from layers.importers import run_import

                start = time.perf_counter()
                counts = {}
                for kind, path in files.items():
                    report = run_import(kind, path)
                    if not report.committed:
                        raise RuntimeError(f"{kind}: {report.message} {report.errors[:3]}")
                    counts[kind] = report.counts
                result["seconds"] = time.perf_counter() - start
                result["rows"] = sum(c["rows"] for c in counts.values())
            elif method == "floor":
                prepared = {kind: _prepared_frames(kind, path) for kind, path in files.items()}
                result["rows"] = sum(len(f) for fs in prepared.values() for f in fs)
                with connection.cursor() as cur:
                    for kind, table in tables.items():
                        cur.execute(
                            f"CREATE UNLOGGED TABLE bench_floor_{kind} AS "
                            f"SELECT * FROM {table} WITH NO DATA"
                        )
                start = time.perf_counter()
                for kind, frames in prepared.items():
                    for frame in frames:
                        copy_frame(f"bench_floor_{kind}", frame)
                result["seconds"] = time.perf_counter() - start
            raise _Rollback
    except _Rollback:
        pass
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _obvious(prepared):
    """geopandas to_postgis of the prepared rows, then one UPDATE … ST_Intersects join."""
    import geopandas as gpd
    import pandas as pd
    import shapely
    from django.conf import settings
    from django.db import connection
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    db = settings.DATABASES["default"]
    engine = create_engine(
        f"postgresql+psycopg2://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        poolclass=StaticPool,
    )
    frames = {}
    for kind, parts in prepared.items():
        frame = pd.concat(parts, ignore_index=True)
        geometry = shapely.from_wkb(frame.pop("location").to_numpy())
        frame = frame.drop(columns=["grid_id", "community_id", "street_id"])
        frames[kind] = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
    start = time.perf_counter()
    # Its own tables and connection, committed as to_postgis does; dropped afterwards.
    for kind, gdf in frames.items():
        gdf.to_postgis(f"bench_obvious_{kind}", engine, if_exists="replace", chunksize=50_000)
    with connection.cursor() as cur:
        for kind in frames:
            cur.execute(f"ALTER TABLE bench_obvious_{kind} ADD COLUMN grid_id bigint")
            cur.execute(
                f"""
                UPDATE bench_obvious_{kind} t SET grid_id = g.id
                FROM layers_grid g
                WHERE g.valid_to IS NULL AND ST_Intersects(g.geom, t.geometry)
                """
            )
    seconds = time.perf_counter() - start
    with connection.cursor() as cur:
        for kind in frames:
            cur.execute(f"DROP TABLE IF EXISTS bench_obvious_{kind}")
    return seconds


def child(method, persons, rentals, url):
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "gridmap.settings"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(persons), str(rentals)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--rentals", type=int, default=None, help="default: persons / 5")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, persons, rentals = args.child
        print(json.dumps(run_method(method, persons, rentals)))
        return
    url = bench_url()
    ensure_bench_db(url)
    n_rentals = args.rentals if args.rentals is not None else args.persons // 5
    persons, rentals = write_files(args.persons, n_rentals)
    runs = {"ours": [], "obvious": [], "floor": []}
    for _ in range(args.repeats):
        for method in runs:
            runs[method].append(child(method, persons, rentals, url))
            print(f"  {method}: {runs[method][-1]}", file=sys.stderr)
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in runs.items()}
    peak = {m: max(r["peak_rss_mb"] for r in rs) for m, rs in runs.items()}
    rows = runs["ours"][0]["rows"]
    print(
        f"\n### Import {args.persons:,} persons + {n_rentals:,} rental houses "
        f"(city district, 10,000 grids; median of {args.repeats})\n"
    )
    print("| method | seconds | rows/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|")
    labels = {
        "ours": "ours: read + validate + encrypt + STRtree + COPY upsert (indexed tables)",
        "obvious": "(a) to_postgis + UPDATE … ST_Intersects (write + join only)",
        "floor": "(b) floor: COPY prepared rows → unlogged, unindexed table",
    }
    for m in runs:
        print(f"| {labels[m]} | {med[m]:.1f} | {rows / med[m]:,.0f} | {peak[m]:,.0f} |")
    print()
    print(f"- speed-up vs (a): **{med['obvious'] / med['ours']:.2f}×** (target ≥ 2.5×)")
    print(f"- ours / floor: **{med['ours'] / med['floor']:.2f}×** (target ≤ 2×)")
    print(f"- peak memory of ours: **{peak['ours'] / 1024:.2f} GB** (target ≤ 2 GB)")


if __name__ == "__main__":
    main()
