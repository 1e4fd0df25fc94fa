"""A real streaming replica on loopback (scripts/replica.sh), read through the router.

A throwaway primary cluster (never the shared one) gets a hot standby from
scripts/replica.sh; a separate process configured with DATABASE_URL and
DATABASE_REPLICA_URL writes on the primary and reads through gridmap/db_router.py.
"""

import json
import os
import subprocess
import sys
from contextlib import closing

import pytest

from tests.ops import pgutil

ROOT = pgutil.ROOT
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def primary():
    # wal_level=replica is the default; say so, and allow the standby's connection.
    cluster = pgutil.Cluster(options="-c wal_level=replica -c max_wal_senders=4").init().start()
    with closing(cluster.connect()) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE gridmap")
    with closing(cluster.connect("gridmap")) as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION postgis")
    yield cluster
    cluster.destroy()


def replica_sh(cluster, *args):
    env = {
        **os.environ,
        "REPLICA_DIR": str(cluster.tmp / "replica"),
        "REPLICA_PRIMARY_PORT": str(cluster.port),
        "GRIDMAP_REPLICA_PORT": str(cluster.replica_port),
        "GRIDMAP_PG_FSYNC": "off",
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "replica.sh"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def probe(cluster, phase):
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url("gridmap"),
        "DATABASE_REPLICA_URL": f"postgis://gridmap@127.0.0.1:{cluster.replica_port}/gridmap",
        "REPLICA_MAX_LAG_SECONDS": "1",
        "REPLICA_LAG_CHECK_SECONDS": "0",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ops" / "replica_probe.py"), phase],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_streaming_replica_serves_reads_and_the_router_handles_lag_and_outage(primary):
    primary.replica_port = pgutil.free_port()
    result = replica_sh(primary, "start")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        assert "streaming" in result.stdout
        assert replica_sh(primary, "status").stdout.startswith("running")

        out = probe(primary, "live")
        # Reads of the data apps go to the replica; writes and accounts to the primary.
        assert out["alias"] == "replica" and out["read_db"] == "replica"
        assert out["write_db"] == "default" and out["user_db"] == "default"
        assert out["raw_sql_on_standby"] is True
        assert out["raw_sql_outside_on_standby"] is False
        assert out["alias_outside"] == "default"
        # Inside a transaction on the primary, reads stay on the primary.
        assert out["alias_in_atomic"] == "default"
        # The write streamed to the replica within seconds.
        assert out["replicated_in_s"] is not None and out["replicated_in_s"] < 10
        # While the replica lags, reads fall back to the primary and see the new row.
        assert out["lagging_alias"] == "default"
        assert out["lagging_count"] == 2 and out["stale_replica_count"] == 1
        # Once it caught up, reads go back to the replica.
        assert out["caught_up_in_s"] is not None
        assert out["count_after_catch_up"] == 2

        assert "behind_bytes=" in replica_sh(primary, "lag").stdout

        # The replica goes away: reads fall back to the primary, nobody gets an error.
        assert replica_sh(primary, "stop").returncode == 0
        out = probe(primary, "down")
        assert out == {"alias": "default", "count": 2}
    finally:
        replica_sh(primary, "destroy")
