"""
Benchmark the locate API (GET /api/v1/locate) on the city-scale district.

Run from the repository root:

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_locate.py \
        [--requests 6000] [--workers 2] [--clients 2] [--threads 8] [--seconds 60]

Starts gunicorn on a free loopback port (gthread workers, keep-alive) against the
`gridmap_bench` database (created by bench/bench_import.py's helper when missing),
authenticates with an API token of a district account (scope layers:read), and fires
a bounded number of lookups at random points of the district from a few client
processes (threads with keep-alive connections). Side by side: the same lookup as one
SQL round trip in-process (layers.sql.locate), the floor the HTTP stack adds to.
Target: ≥ 1,000 lookups/s on 2 cores.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import bench_url, ensure_bench_db  # noqa: E402

LON = (102.551, 102.779)
LAT = (24.901, 25.129)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def issue_token():
    """Return a fresh API token of a district service account in the bench database."""
    import django

    django.setup()
    from accounts.models import Role, User
    from accounts.services import issue_api_token
    from layers.models import District

    user, _ = User.objects.get_or_create(
        username="bench-locate",
        defaults={"role": Role.DISTRICT, "district": District.objects.first()},
    )
    _token, raw = issue_api_token(name="bench-locate", user=user, scopes=["layers:read"])
    return raw


def points(n, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(*LON, n), rng.uniform(*LAT, n), strict=True))


def client_process(port, token, n, threads, seconds, seed, out):
    """Send n lookups from `threads` keep-alive connections; put (latencies, errors)."""
    todo = points(n, seed)
    lock = threading.Lock()
    latencies, errors = [], []
    deadline = time.monotonic() + seconds

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"}
        mine = []
        for lon, lat in chunk:
            if time.monotonic() > deadline:
                break
            start = time.perf_counter()
            try:
                conn.request("GET", f"/api/v1/locate?lon={lon:.7f}&lat={lat:.7f}", headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    errors.append(f"{response.status} {body[:100]!r}")
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(todo[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[:5], len(errors)))


def in_process(n):
    """Return lookups/s of layers.sql.locate called in a loop (one SQL round trip each)."""
    from layers import sql

    todo = points(n, 7)
    start = time.perf_counter()
    for lon, lat in todo:
        sql.locate(lon, lat)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--server-threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process")
    parser.add_argument("--seconds", type=float, default=60, help="stop after this long")
    args = parser.parse_args()
    url = bench_url()
    ensure_bench_db(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")
    token = issue_token()
    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "gridmap.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.server_threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "0"},
    )
    try:
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not start")
        # Warm up every worker (imports, connections).
        warm = multiprocessing.Queue()
        client_process(port, token, 200, 4, 30, 1, warm)
        warm.get()
        queue = multiprocessing.Queue()
        per = args.requests // args.clients
        procs = [
            multiprocessing.Process(
                target=client_process,
                args=(port, token, per, args.threads, args.seconds, 100 + i, queue),
            )
            for i in range(args.clients)
        ]
        start = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=20)
    latencies = [x for r in results for x in r[0]]
    n_errors = sum(r[2] for r in results)
    if n_errors:
        print(f"errors: {n_errors}: {[e for r in results for e in r[1]][:3]}", file=sys.stderr)
    rate = len(latencies) / wall
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    floor = in_process(2000)
    print(
        f"\n### Locate API on the city district (10,000 grids), {os.cpu_count()} CPUs, "
        f"{args.workers} gunicorn workers × {args.server_threads} threads, "
        f"{args.clients}×{args.threads} client threads\n"
    )
    print("| method | lookups/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|")
    print(
        f"| GET /api/v1/locate (token auth, HTTP, loopback) | {rate:,.0f} | {p50:.1f} | {p95:.1f} |"
    )
    print(f"| layers.sql.locate in-process, 1 thread (SQL floor) | {floor:,.0f} | | |")
    print(f"\n- {len(latencies)} lookups in {wall:.1f} s, {n_errors} errors; target ≥ 1,000/s")
    print(json.dumps({"api_per_s": round(rate), "sql_per_s": round(floor)}), file=sys.stderr)


if __name__ == "__main__":
    main()
