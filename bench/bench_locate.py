"""
Benchmark the locate API (GET /api/v1/locate) on the city-scale district.

Run from the repository root:

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_locate.py \
        [--seconds 30] [--connections 16] [--workers N] [--python-client]

Starts gunicorn on a free loopback port with scripts/serve.sh's settings (sync workers,
2 × cores + 1 of them, so no keep-alive: every lookup opens a connection) against the
`gridmap_bench` database (created by bench/bench_import.py's helper when missing),
authenticates with an API token of a district account (scope layers:read), and fires
lookups at random points of the district for a bounded time with wrk (Debian's `wrk`,
installed by scripts/setup.sh: a C client with a Lua script, so that nearly all of the
two cores go to the server and PostgreSQL, as they would with the clients elsewhere).
With --python-client, the same run is repeated with the earlier client (Python threads
with http.client), which itself takes a large share of the same two cores.
Side by side: the same lookup as one SQL round trip in-process (layers.sql.locate), the
floor the HTTP stack adds to. Target: ≥ 1,000 lookups/s on 2 cores.
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
import tempfile
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


WRK_SCRIPT = """
local lon0, lon1, lat0, lat1 = %(lon0)s, %(lon1)s, %(lat0)s, %(lat1)s
wrk.headers["Authorization"] = "Bearer %(token)s"
local n = 0
function setup(thread)
  n = n + 1
  thread:set("seed", n)
end
function init(args)
  math.randomseed(seed or 1)
end
function request()
  local lon = lon0 + math.random() * (lon1 - lon0)
  local lat = lat0 + math.random() * (lat1 - lat0)
  return wrk.format("GET", string.format("/api/v1/locate?lon=%%.7f&lat=%%.7f", lon, lat))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\\"requests\\": %%d, \\"us\\": %%d, \\"non2xx\\": %%d, \\"socket\\": %%d, " ..
    "\\"p50\\": %%d, \\"p95\\": %%d, \\"p99\\": %%d}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wrk_run(port, token, seconds, connections, threads=2):
    """Run wrk against the locate API; return (lookups/s, p50 ms, p95 ms, p99 ms, errors)."""
    script = WRK_SCRIPT % {
        "lon0": LON[0],
        "lon1": LON[1],
        "lat0": LAT[0],
        "lat1": LAT[1],
        "token": token,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as fh:
        fh.write(script)
        fh.flush()
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                fh.name,
                f"http://127.0.0.1:{port}/",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK "))
    r = json.loads(line[4:])
    rate = r["requests"] / (r["us"] / 1e6)
    return rate, r["p50"] / 1000, r["p95"] / 1000, r["p99"] / 1000, r["non2xx"] + r["socket"]


def in_process(n):
    """Return lookups/s of layers.sql.locate called in a loop (one SQL round trip each)."""
    from layers import sql

    todo = points(n, 7)
    start = time.perf_counter()
    for lon, lat in todo:
        sql.locate(lon, lat)
    return n / (time.perf_counter() - start)


def python_client_run(port, token, args):
    """The earlier client: processes of threads with http.client (returns as wrk_run)."""
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
    latencies = sorted(x for r in results for x in r[0])
    n_errors = sum(r[2] for r in results)
    if n_errors:
        print(f"errors: {n_errors}: {[e for r in results for e in r[1]][:3]}", file=sys.stderr)
    return (
        len(latencies) / wall,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.95)] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        n_errors,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of each run")
    parser.add_argument("--connections", type=int, default=16, help="wrk keep-alive connections")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="gunicorn workers (default: serve.sh's, 2 × cores + 1)",
    )
    parser.add_argument(
        "--server-threads", type=int, default=1, help="threads per worker (1: sync workers)"
    )
    parser.add_argument(
        "--python-client", action="store_true", help="also run the Python http.client client"
    )
    parser.add_argument("--requests", type=int, default=6000, help="Python client: lookups")
    parser.add_argument("--clients", type=int, default=2, help="Python client: processes")
    parser.add_argument("--threads", type=int, default=8, help="Python client: threads each")
    args = parser.parse_args()
    url = bench_url()
    ensure_bench_db(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")
    token = issue_token()
    port = free_port()
    # As deployed: scripts/serve.sh's gunicorn settings (sync workers, 2 × cores + 1 of
    # them, JSON access log), here without the job workers, which locate does not use.
    env = {**os.environ, "DEBUG": "0", "BIND": f"127.0.0.1:{port}", "LOG_FORMAT": "json"}
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    env["GUNICORN_THREADS"] = str(args.server_threads)
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "-c",
            str(ROOT / "scripts" / "gunicorn.conf.py"),
            "gridmap.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    runs = {}
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
        # Warm up every worker (imports, connections, the viewer's area).
        wrk_run(port, token, 3, args.connections)
        runs["wrk"] = wrk_run(port, token, args.seconds, args.connections)
        if args.python_client:
            runs["python"] = python_client_run(port, token, args)
    finally:
        server.terminate()
        server.wait(timeout=20)
    floor = in_process(2000)
    workers = args.workers or os.cpu_count() * 2 + 1
    kind = "sync" if args.server_threads == 1 else f"gthread × {args.server_threads} threads"
    print(
        f"\n### Locate API on the city district (10,000 grids), {os.cpu_count()} CPUs, "
        f"gunicorn as scripts/serve.sh runs it: {workers} {kind} workers\n"
    )
    print("| client | lookups/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "wrk": f"wrk, {args.connections} connections, {args.seconds:g} s",
        "python": f"Python http.client, {args.clients}×{args.threads} threads",
    }
    for name, (rate, p50, p95, p99, errors) in runs.items():
        print(f"| {labels[name]} | {rate:,.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {errors} |")
    print(f"| layers.sql.locate in-process, 1 thread (SQL floor) | {floor:,.0f} | | | | |")
    rate = runs["wrk"][0]
    verdict = "met" if rate >= 1000 else "NOT met"
    print(f"\n- target ≥ 1,000 lookups/s through the API: {verdict} ({rate / 1000:.2f}×)")
    print(json.dumps({"api_per_s": round(rate), "sql_per_s": round(floor)}), file=sys.stderr)


if __name__ == "__main__":
    main()
