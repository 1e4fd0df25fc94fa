"""Run by tests/ops/test_replica.py in its own process, with DATABASE_URL (a throwaway
primary) and DATABASE_REPLICA_URL (its streaming replica): exercise the router for real and
print what happened as JSON. ``phase`` is "live" (replica up) or "down" (replica stopped).
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")

import django  # noqa: E402

django.setup()

from django.db import DatabaseError, connections, router, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from gridmap import db_router  # noqa: E402
from gridmap.models import JobHeartbeat  # noqa: E402


def make(i):
    now = timezone.now()
    JobHeartbeat.objects.create(worker=f"w{i}", host="h", pid=i, started_at=now, beat_at=now)


def wait_for(predicate, timeout=10.0):
    start = time.monotonic()
    while True:
        try:
            if predicate():
                break
        except DatabaseError:
            pass  # the standby has not replayed the table's creation yet
        if time.monotonic() - start > timeout:
            return None
        time.sleep(0.02)
    return round(time.monotonic() - start, 3)


def in_recovery():
    with db_router.read_connection.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def live():
    out = {}
    with connections["default"].schema_editor() as editor:
        editor.create_model(JobHeartbeat)
    make(1)
    with db_router.replica_reads():
        out["alias"] = db_router.current_read_alias()
        out["read_db"] = router.db_for_read(JobHeartbeat)
        out["write_db"] = router.db_for_write(JobHeartbeat)
        out["user_db"] = router.db_for_read(User)
        out["raw_sql_on_standby"] = in_recovery()
        out["replicated_in_s"] = wait_for(lambda: JobHeartbeat.objects.count() == 1)
        with transaction.atomic():
            out["alias_in_atomic"] = db_router.current_read_alias()
    out["alias_outside"] = db_router.current_read_alias()
    out["raw_sql_outside_on_standby"] = in_recovery()

    # Lag: the replica stops replaying; the next write is not there.
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    make(2)
    time.sleep(1.6)  # > REPLICA_MAX_LAG_SECONDS
    with db_router.replica_reads():
        out["lagging_alias"] = db_router.current_read_alias()
        out["lagging_count"] = JobHeartbeat.objects.count()
    out["stale_replica_count"] = JobHeartbeat.objects.using("replica").count()
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")

    def caught_up():
        with db_router.replica_reads():
            return db_router.current_read_alias() == "replica"

    out["caught_up_in_s"] = wait_for(caught_up)
    with db_router.replica_reads():
        out["count_after_catch_up"] = JobHeartbeat.objects.count()
    return out


def down():
    out = {}
    with db_router.replica_reads():
        out["alias"] = db_router.current_read_alias()
        out["count"] = JobHeartbeat.objects.count()
    return out


if __name__ == "__main__":
    phase = sys.argv[1]
    print(json.dumps(live() if phase == "live" else down()))
