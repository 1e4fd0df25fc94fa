"""Load test: case intake at a sustained rate, with wall maps polling and tiles at once.

Starts the production command (scripts/serve.sh: gunicorn + job workers) on 127.0.0.1 on
a free port against its own database (BENCH_LOAD_DB, default gridmap_ops_load, created anew with
the demo district for every run unless --keep-db; vacuumed), warms the server up with
--warmup seconds (default 5) of the same load, then for --duration seconds (default 120):

- intake: POST /api/v1/cases/ with an API token and a unique Idempotency-Key, open loop
  at --rate per second (default 200); latency counted from the scheduled start, so a
  slow server cannot hide queueing (no coordinated omission);
- wall maps: --walls screens (default 4) polling /map/data/live.json every 4 s (as
  static/gridmap/wall.js does) and /map/data/stats.json every 30 s;
- tiles: --tile-rate vector tiles per second (default 20) of the demo district, z12-z16.

Afterwards: the number of 201 answers must equal the number of new cases in the
database carrying this run's keys, with no duplicate and no 5xx. Prints a Markdown table.
Only loopback is ever contacted; every loop is bounded in count and time.

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_load.py
    ... bench/bench_load.py --duration 10 --rate 50      (a short run while developing)
    ... bench/bench_load.py --url http://127.0.0.1:8000  (a server you started yourself)
"""

import argparse
import asyncio
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")
LOCAL_PORT = (
    (ROOT / "var" / "pg" / "port").read_text().strip()
    if (ROOT / "var" / "pg" / "port").exists()
    else "55432"
)
BENCH_DB = os.environ.get("BENCH_LOAD_DB", "gridmap_ops_load")
BENCH_URL = os.environ.get("BENCH_LOAD_DATABASE_URL") or (
    f"postgis://gridmap@127.0.0.1:{LOCAL_PORT}/{BENCH_DB}"
)
os.environ["DATABASE_URL"] = BENCH_URL

REQUEST_TIMEOUT = 10.0
TARGET_P99_MS = 200.0


def ensure_database(fresh=True):
    """Create the bench database with the demo district (anew unless fresh is False).

    Each run adds ~10,000–20,000 cases; starting every run from the demo district keeps
    the runs comparable.
    """
    database = BENCH_URL.replace("postgis://", "postgresql://")
    server = database.rsplit("/", 1)[0] + "/postgres"
    if fresh:
        _autocommit(server, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    exists = _autocommit(server, "SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
    if not exists:
        print(f"bench_load: creating {BENCH_DB} with the demo district (a few minutes)")
        _autocommit(server, f'CREATE DATABASE "{BENCH_DB}"')
        _autocommit(database, "CREATE EXTENSION IF NOT EXISTS postgis")
    env = {**os.environ, "DATABASE_URL": BENCH_URL}
    # migrate is quick when nothing is new; load_demo loads nothing the second time.
    for args in (["migrate", "-v", "0"], ["load_demo", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)
    if not exists:
        # As a database in service would be: vacuumed and analysed. Otherwise autovacuum
        # works through the freshly loaded demo tables in the middle of the load test.
        _autocommit(database, "VACUUM ANALYZE")


def _autocommit(url, statement, params=None):
    """Run one statement outside a transaction; return whether it gave a row."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.description is not None and cur.fetchone() is not None
    finally:
        conn.close()


def prepare_clients():
    """Return (API token, session cookie, categories, points, tiles, case id high-water)."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.models import Max

    from accounts.models import User
    from accounts.services import issue_api_token
    from cases.models import Case, Category
    from layers.models import Grid

    intake = User.objects.get(username="shouli")
    _token, raw = issue_api_token(
        name=f"bench-load-{uuid.uuid4().hex[:6]}", user=intake, scopes=["cases:create"]
    )
    viewer = User.objects.get(username="zhihui")
    session = SessionStore()
    session[SESSION_KEY] = str(viewer.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = viewer.get_session_auth_hash()
    session.set_expiry(3600)
    session.save()
    categories = list(Category.objects.filter(active=True).values_list("code", flat=True))
    grids = Grid.objects.current().exclude(geom=None)
    points = []
    tiles = []
    for grid in grids.order_by("code")[:200]:
        p = grid.geom.point_on_surface
        points.append((round(p.x, 6), round(p.y, 6)))
        for z in (12, 13, 14, 15, 16):
            n = 2**z
            x = int((p.x + 180) / 360 * n)
            y = int((1 - math.asinh(math.tan(math.radians(p.y))) / math.pi) / 2 * n)
            tiles.append((z, x, y))
    high = Case.objects.aggregate(m=Max("id"))["m"] or 0
    return raw, session.session_key, categories, points, sorted(set(tiles)), high


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port, log_path, workers, database_url=None, extra_env=None):
    """Start scripts/serve.sh (gunicorn + job workers) on 127.0.0.1:port; wait for /healthz."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url or BENCH_URL,
        "PORT": str(port),
        "SKIP_PREPARE": "1",
        "JOB_WORKERS": "2",
        "LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    log = open(log_path, "w")  # noqa: SIM115 (closed when the server stops)
    proc = subprocess.Popen(
        ["bash", "scripts/serve.sh"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_load: serve.sh exited; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, log
        except OSError:
            pass
        time.sleep(1)
    stop_server(proc, log)
    raise SystemExit(f"bench_load: the server did not become healthy; see {log_path}")


def stop_server(proc, log):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=40)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log.close()


def group_cpu_seconds(pgid):
    """Return the CPU seconds (user + system) used so far by the processes of a group."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])
    return total / tick


class Stats:
    def __init__(self):
        self.latencies = []
        self.started = []  # when each request was due (perf_counter)
        self.codes = {}
        self.errors = 0

    def add(self, code, ms, started=None):
        self.codes[code] = self.codes.get(code, 0) + 1
        self.latencies.append(ms)
        self.started.append(started)

    def windows(self, t0, seconds=10):
        """Return [(window start s, p99 ms)] of the requests due in each window."""
        by = {}
        for at, ms in zip(self.started, self.latencies, strict=True):
            if at is not None:
                by.setdefault(int((at - t0) // seconds), []).append(ms)
        out = []
        for w in sorted(by):
            data = sorted(by[w])
            out.append((w * seconds, data[min(len(data) - 1, math.ceil(0.99 * len(data)) - 1)]))
        return out

    def pct(self, q):
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(math.ceil(q * len(data))) - 1)]


async def http(host, port, method, path, headers, body=b""):
    """One HTTP/1.1 request on a fresh connection; return (status, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body:
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    status = int(status_line.split()[1]) if status_line.startswith(b"HTTP/") else 0
    return status, rest.partition(b"\r\n\r\n")[2]


async def timed(stats, started, coro):
    try:
        status, body = await asyncio.wait_for(coro, REQUEST_TIMEOUT)
    except (OSError, TimeoutError, ValueError, IndexError):
        stats.errors += 1
        status, body = 0, b""
    stats.add(status, (time.perf_counter() - started) * 1000, started)
    return status, body


async def run_load(args, host, port, token, session_key, categories, points, tiles, run_id):
    intake, live, tile_stats = Stats(), Stats(), Stats()
    created_keys, sem = [], asyncio.Semaphore(args.max_inflight)
    sent, answered = {}, set()
    t0 = time.perf_counter()
    end = t0 + args.duration
    tasks = []
    # When the last first-try intake was answered: the intake window ends there, so that a
    # server that falls behind shows a lower rate, and the other loops' tails do not count.
    last_answer = [t0]

    async def one_intake(i, scheduled):
        key = f"bench-{run_id}-{i}"
        lon, lat = random.choice(points)
        body = json.dumps(
            {
                "source": "hotline_12345",
                "category": random.choice(categories),
                "description": f"压力测试 load test {i}",
                "location": {"type": "Point", "coordinates": [lon, lat]},
            }
        ).encode()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        async with sem:
            sent[key] = (headers, body)
            status, _ = await timed(
                intake, scheduled, http(host, port, "POST", "/api/v1/cases/", headers, body)
            )
        if status == 201:
            created_keys.append(key)
        if status in (200, 201):
            answered.add(key)
            last_answer[0] = max(last_answer[0], time.perf_counter())

    async def intake_loop():
        n = int(args.rate * args.duration)
        for i in range(n):
            scheduled = t0 + i / args.rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one_intake(i, scheduled)))

    cookie = {"Cookie": f"sessionid={session_key}", "Accept": "application/json"}

    async def wall_loop(w):
        since = None
        next_stats = time.perf_counter()
        await asyncio.sleep(w * args.poll / max(1, args.walls))
        while time.perf_counter() < end:
            started = time.perf_counter()
            path = "/map/data/live.json" + (f"?since={since}" if since else "")
            status, body = await timed(live, started, http(host, port, "GET", path, cookie))
            if status == 200:
                try:
                    feed = json.loads(body).get("feed") or []
                    ids = [c.get("id") for c in feed if isinstance(c, dict) and c.get("id")]
                    since = max(ids + ([since] if since else [])) if ids else since
                except (ValueError, TypeError):
                    pass
            if started >= next_stats:
                s2 = time.perf_counter()
                await timed(live, s2, http(host, port, "GET", "/map/data/stats.json", cookie))
                next_stats = started + 30
            now = time.perf_counter()
            await asyncio.sleep(max(0.0, min(args.poll - (now - started), end - now)))

    async def tile_loop():
        if args.tile_rate <= 0:
            return
        i = 0
        layers = ("grids", "cases", "rentals")
        while True:
            scheduled = t0 + i / args.tile_rate
            if scheduled >= end:
                return
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            z, x, y = random.choice(tiles)
            path = f"/tiles/{random.choice(layers)}/{z}/{x}/{y}.pbf"
            tasks.append(
                asyncio.ensure_future(
                    timed(tile_stats, scheduled, http(host, port, "GET", path, cookie))
                )
            )
            i += 1

    loops = [intake_loop(), tile_loop()] + [wall_loop(w) for w in range(args.walls)]
    await asyncio.gather(*loops)
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
        for task in pending:
            task.cancel()
    elapsed = time.perf_counter() - t0

    # Clients whose request got no answer retry with the same Idempotency-Key (bounded):
    # a case the server made meanwhile comes back as 200 replayed, never a second case.
    retry = Stats()
    retry_sem = asyncio.Semaphore(8)
    retry_end = time.perf_counter() + args.retry_seconds

    async def again(key):
        headers, body = sent[key]
        async with retry_sem:
            if time.perf_counter() > retry_end:
                return
            status, _ = await timed(
                retry,
                time.perf_counter(),
                http(host, port, "POST", "/api/v1/cases/", headers, body),
            )
        if status == 201:
            created_keys.append(key)
        if status in (200, 201):
            answered.add(key)

    await asyncio.gather(*(again(k) for k in list(sent) if k not in answered))
    unanswered = len(set(sent) - answered)
    window = last_answer[0] - t0
    intake.t0 = t0
    return intake, live, tile_stats, created_keys, elapsed, window, retry, unanswered


def count_cases(run_id, high):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM cases_case"
            " WHERE id > %s AND idempotency_key LIKE %s",
            [high, f"bench-{run_id}-%"],
        )
        return cur.fetchone()


def row(name, stats, seconds):
    n = len(stats.latencies)
    five = sum(v for k, v in stats.codes.items() if k >= 500)
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(stats.codes.items()))
    return (
        f"| {name} | {n} | {n / seconds:.1f} | {statistics.median(stats.latencies) if n else 0:.1f}"
        f" | {stats.pct(0.95):.1f} | {stats.pct(0.99):.1f} | {max(stats.latencies or [0]):.1f}"
        f" | {five} | {codes} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument(
        "--warmup", type=float, default=5, help="seconds of load before the measured run"
    )
    parser.add_argument("--rate", type=float, default=200, help="intake requests per second")
    parser.add_argument("--walls", type=int, default=4, help="wall-map screens polling")
    parser.add_argument("--poll", type=float, default=4.0, help="seconds between polls")
    parser.add_argument("--tile-rate", type=float, default=20, help="tile requests per second")
    parser.add_argument("--max-inflight", type=int, default=128)
    parser.add_argument(
        "--retry-seconds", type=float, default=60, help="time for retrying unanswered intakes"
    )
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: default)")
    parser.add_argument("--url", help="use a running server (http://127.0.0.1:PORT)")
    parser.add_argument(
        "--keep-db", action="store_true", help="reuse the bench database with earlier runs' cases"
    )
    parser.add_argument("--log", default=str(ROOT / "var" / "bench_load_server.log"))
    args = parser.parse_args()
    if not (0 < args.duration <= 600 and 0 < args.rate <= 2000):
        parser.error("--duration must be in (0, 600] and --rate in (0, 2000]")

    if not args.url:
        ensure_database(fresh=not args.keep_db)
    token, session_key, categories, points, tiles, high = prepare_clients()
    run_id = uuid.uuid4().hex[:8]
    proc = log = None
    if args.url:
        host, port = args.url.split("//", 1)[1].split(":")
        port = int(port.rstrip("/"))
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit("bench_load: only a server on loopback may be loaded")
    else:
        host, port = "127.0.0.1", free_port()
        proc, log = start_server(port, args.log, args.workers)
    try:
        if args.warmup > 0:
            # A server in service is warm: every worker has its connection, its prepared
            # statements and its lazily imported code. The warm-up's cases carry their
            # own keys and count in none of the figures below.
            warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
            warm_id = f"warm{run_id}"
            asyncio.run(
                run_load(warm, host, port, token, session_key, categories, points, tiles, warm_id)
            )
    except BaseException:
        if proc is not None:
            stop_server(proc, log)
        raise
    cpu_before = group_cpu_seconds(proc.pid) if proc else None
    try:
        load = run_load(args, host, port, token, session_key, categories, points, tiles, run_id)
        intake, live, tile_stats, keys, seconds, window, retry, unanswered = asyncio.run(
            asyncio.wait_for(load, args.duration + args.retry_seconds + 60)
        )
        cpu_used = group_cpu_seconds(proc.pid) - cpu_before if proc else None
    finally:
        if proc is not None:
            stop_server(proc, log)

    rows, distinct = count_cases(run_id, high)
    created = len(keys)  # 201 answers, first tries and retries
    fives = sum(
        v for s in (intake, live, tile_stats, retry) for k, v in s.codes.items() if k >= 500
    )
    # Answered intakes (201, or 200 for a key seen before) per second of the intake window:
    # from the first scheduled request to the last answer.
    achieved = (intake.codes.get(201, 0) + intake.codes.get(200, 0)) / window
    print(f"\n### Load: intake {args.rate:g}/s for {args.duration:g} s on {os.cpu_count()} cores")
    print(f"(walls {args.walls} × poll {args.poll:g} s, tiles {args.tile_rate:g}/s)\n")
    print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | 5xx | codes |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("POST /api/v1/cases/", intake, window))
    print(row("wall map live/stats", live, seconds))
    print(row("tiles", tile_stats, seconds))
    if retry.latencies:
        print(row("intake retries (same key)", retry, seconds))
    checks = {
        f"intake ≥ {args.rate:g}/s sustained": achieved >= args.rate * 0.98,
        f"intake p99 ≤ {TARGET_P99_MS:g} ms": intake.pct(0.99) <= TARGET_P99_MS,
        "201 answers == new cases in the database": created == rows,
        "every new case is a 201 or, after a timeout, a replayed 200 (idempotency)": rows
        == created + retry.codes.get(200, 0),
        "no duplicate case": rows == distinct,
        "no 5xx": fives == 0,
        "no connection error or timeout": intake.errors + live.errors + tile_stats.errors == 0,
        "every intake answered in the end (after retries)": unanswered == 0,
    }
    total = len(intake.latencies) + len(live.latencies) + len(tile_stats.latencies)
    if cpu_used is not None and total:
        print(
            f"\napp server CPU (gunicorn + job workers): {cpu_used:.1f} s in {seconds:.0f} s ="
            f" {cpu_used / seconds:.2f} cores; {1000 * cpu_used / total:.1f} ms per request"
        )
    print(
        f"\n201 answers: {created} (first tries {intake.codes.get(201, 0)}, retries"
        f" {retry.codes.get(201, 0)}; replayed 200 on retry: {retry.codes.get(200, 0)});"
        f" new cases with this run's keys: {rows} ({distinct} distinct); unanswered: {unanswered}"
    )
    print(
        f"intake window (first request to last first-try answer): {window:.1f} s;"
        f" answered per second: {achieved:.1f}"
    )
    print(
        "intake p99 (ms) by 10-s window: "
        + ", ".join(f"{at}s {p99:.0f}" for at, p99 in intake.windows(intake.t0))
    )
    for name, ok in checks.items():
        print(f"- {'PASS' if ok else 'FAIL'}: {name}")
    return 0 if all(checks.values()) or not os.environ.get("BENCH_STRICT") else 1


if __name__ == "__main__":
    sys.exit(main())
