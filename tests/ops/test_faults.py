"""Restart PostgreSQL in the middle of the load: the app recovers by itself.

A throwaway cluster (never the shared one: other engineers' tests run there) serves the
production command (scripts/serve.sh: gunicorn + two job workers). Clients keep
registering cases with idempotency keys, retrying until they get an answer; halfway the
cluster is stopped for a few seconds and started again. Then:

- no answer was a 500 (during the outage: 503 with the bilingual message);
- the same gunicorn, never restarted, answers again;
- every client key ended as exactly one case;
- the periodic jobs, interrupted by the outage, finished every overdue case and sent no
  reminder or notification twice.
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from tests.ops import pgutil

ROOT = pgutil.ROOT
pytestmark = pytest.mark.slow

CLIENTS = 30
OVERDUE = 12
OUTAGE_SECONDS = 4


def request(port, method, path, body=None, headers=None, timeout=10):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def cluster():
    c = pgutil.Cluster().init().start()
    with closing(c.connect()) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE gridmap")
    with closing(c.connect("gridmap")) as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION postgis")
    yield c
    c.destroy()


@pytest.fixture(scope="module")
def server(cluster):
    env = {**os.environ, "DATABASE_URL": cluster.url("gridmap")}
    setup = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ops" / "faults_setup.py"), str(OVERDUE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    made = json.loads(setup.stdout.strip().splitlines()[-1])
    port = pgutil.free_port()
    log = open(cluster.tmp / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        ["bash", "scripts/serve.sh"],
        cwd=ROOT,
        env={
            **env,
            "PORT": str(port),
            "SKIP_PREPARE": "1",
            "WEB_CONCURRENCY": "3",
            "JOB_WORKERS": "2",
            "JOB_INTERVAL": "1",
            "LOG_FORMAT": "json",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while request(port, "GET", "/healthz", timeout=3)[0] != 200:
        assert proc.poll() is None, (cluster.tmp / "serve.log").read_text()[-3000:]
        assert time.monotonic() < deadline, (cluster.tmp / "serve.log").read_text()[-3000:]
        time.sleep(0.5)
    yield {
        "port": port,
        "token": made["token"],
        "session": made["session"],
        "proc": proc,
        "log": cluster.tmp / "serve.log",
    }
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


def gunicorn_master(proc):
    """Return the pids of serve.sh's gunicorn children (from /proc: no procps needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == proc.pid and b"gunicorn" in cmdline:
            found.append(entry.name)
    return sorted(found)


def test_a_database_restart_mid_load_loses_nothing_and_answers_503_not_500(cluster, server):
    port, token = server["port"], server["token"]
    masters_before = gunicorn_master(server["proc"])
    assert masters_before, "gunicorn is not running under serve.sh"
    seen = []  # (status, body) of every answer
    lock = threading.Lock()
    stopped = threading.Event()
    stop_at = time.monotonic() + 90

    def client(i):
        key = f"faults-{i}"
        body = json.dumps(
            {
                "source": "hotline_12345",
                "category": "labour_wage",
                "description": f"重试客户端 retrying client {i}",
                "location": {"type": "Point", "coordinates": [102.67, 24.98]},
            }
        ).encode()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        # Each client sends its case twice on purpose (a retry after a lost answer), and
        # retries whenever the answer is not a success.
        successes = 0
        while successes < 2 and time.monotonic() < stop_at:
            if successes == 1:
                # Send the retry only once the database is down, so that on a fast machine
                # the clients cannot all finish before the outage begins.
                stopped.wait(timeout=60)
            status, data = request(port, "POST", "/api/v1/cases/", body, headers)
            with lock:
                seen.append((status, data))
            if status in (200, 201):
                successes += 1
            else:
                time.sleep(0.3)
        return successes

    def outage():
        time.sleep(2)
        cluster.stop("fast")
        stopped.set()
        time.sleep(0.5)
        cookie = {"Cookie": f"sessionid={server['session']}"}
        during = [
            request(port, "GET", "/healthz"),
            request(port, "GET", "/cases/", headers={"Accept": "text/html", **cookie}),
            request(port, "GET", "/map/data/live.json", headers=cookie),
        ]
        time.sleep(OUTAGE_SECONDS)
        cluster.start()
        return during

    with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
        down = pool.submit(outage)
        results = list(pool.map(client, range(CLIENTS)))
        during = down.result()

    statuses = [s for s, _ in seen]
    assert 500 not in statuses, [b[:300] for s, b in seen if s == 500][:3]
    assert all(s in (200, 201, 503, 0) for s in statuses), sorted(set(statuses))
    outage_answers = [b for s, b in seen if s == 503]
    assert outage_answers, "the outage was not seen by any intake request"
    assert all("数据库暂时不可用" in b.decode() for b in outage_answers)
    assert results == [2] * CLIENTS

    # Pages and health during the outage: 503, a clear message, never a 500.
    health, page, data = during
    assert health[0] == 503 and json.loads(health[1]) == {"database": "down"}
    assert page[0] == 503 and "服务暂时不可用" in page[1].decode()
    assert data[0] == 503 and "数据库暂时不可用" in json.loads(data[1])["detail"]

    # The same gunicorn answers again: recovered without a restart of its own.
    assert request(port, "GET", "/healthz")[0] == 200
    assert gunicorn_master(server["proc"]) == masters_before

    with closing(cluster.connect("gridmap")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM cases_case"
            " WHERE idempotency_key LIKE 'faults-%%'"
        )
        assert cur.fetchone() == (CLIENTS, CLIENTS)

    # The jobs resume: every overdue case gets its letter, and nothing is sent twice.
    deadline = time.monotonic() + 60
    with closing(cluster.connect("gridmap")) as conn, conn.cursor() as cur:
        while True:
            cur.execute(
                "SELECT count(DISTINCT case_id) FROM cases_reminder r"
                " JOIN cases_case c ON c.id = r.case_id"
                " WHERE r.kind = 'letter' AND c.description LIKE 'overdue %%'"
            )
            if cur.fetchone()[0] == OVERDUE or time.monotonic() > deadline:
                break
            time.sleep(1)
        cur.execute(
            "SELECT count(DISTINCT case_id) FROM cases_reminder r"
            " JOIN cases_case c ON c.id = r.case_id"
            " WHERE r.kind = 'letter' AND c.description LIKE 'overdue %%'"
        )
        assert cur.fetchone()[0] == OVERDUE
        cur.execute(
            "SELECT case_id, kind, deadline, count(*) FROM cases_reminder"
            " GROUP BY 1, 2, 3 HAVING count(*) > 1"
        )
        assert cur.fetchall() == []
        cur.execute(
            "SELECT user_id, reminder_id, count(*) FROM cases_notification"
            " WHERE reminder_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1"
        )
        assert cur.fetchall() == []
        cur.execute("SELECT count(*) FROM gridmap_jobheartbeat WHERE ok_at IS NOT NULL")
        assert cur.fetchone()[0] >= 2  # both job workers ran
