"""Health of the running system for /healthz: the database and the periodic-job workers.

Each job worker process (``manage.py run_jobs``) calls :func:`beat` after every pass; the
row it keeps in gridmap_jobheartbeat says when it last ran and when it last succeeded.
/healthz calls :func:`status`: the jobs are healthy when at least one worker has
succeeded within ``JOBS_STALE_SECONDS`` (default three passes of 60 s). The heartbeat
lives in the database, so workers on several machines all count.
"""

import logging
import os
import socket

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.utils import timezone

log = logging.getLogger(__name__)

_started = timezone.now()


def stale_seconds():
    return int(getattr(settings, "JOBS_STALE_SECONDS", 180))


def worker_name():
    """Return this process's name in the heartbeat table: host:pid."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def beat(*, ok, error=""):
    """Record one pass of this job worker; never raises (the database may be down)."""
    from gridmap.models import JobHeartbeat

    now = timezone.now()
    name = worker_name()
    fields = {"beat_at": now, "host": socket.gethostname()[:100], "pid": os.getpid()}
    try:
        from django.db.models import F

        if ok:
            fields.update(ok_at=now, passes=F("passes") + 1)
        else:
            fields.update(failures=F("failures") + 1, last_error=str(error)[:2000])
        if not JobHeartbeat.objects.filter(worker=name).update(**fields):
            JobHeartbeat.objects.create(
                worker=name,
                host=fields["host"],
                pid=fields["pid"],
                started_at=_started,
                beat_at=now,
                ok_at=now if ok else None,
                passes=1 if ok else 0,
                failures=0 if ok else 1,
                last_error="" if ok else str(error)[:2000],
            )
        # Rows of workers gone for a day are history, not workers.
        JobHeartbeat.objects.filter(beat_at__lt=now - timezone.timedelta(days=1)).delete()
    except DatabaseError as exc:
        log.warning("job heartbeat not written: %s", exc)
        _close_broken()


def _close_broken():
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()


def status(now=None):
    """Return the jobs' health: {"status": "ok"|"stale"|"none", "workers": n, ...}."""
    from gridmap.models import JobHeartbeat

    now = now or timezone.now()
    horizon = now - timezone.timedelta(seconds=stale_seconds())
    rows = list(
        JobHeartbeat.objects.using(router.db_for_write(JobHeartbeat))
        .filter(beat_at__gte=horizon)
        .values("worker", "beat_at", "ok_at", "failures", "last_error")
    )
    healthy = [r for r in rows if r["ok_at"] and r["ok_at"] >= horizon]
    last_ok = max((r["ok_at"] for r in rows if r["ok_at"]), default=None)
    if healthy:
        state = "ok"
    elif rows:
        state = "failing"
    else:
        state = "none" if not JobHeartbeat.objects.exists() else "stale"
    answer = {"status": state, "workers": len(healthy), "stale_after_s": stale_seconds()}
    if last_ok is not None:
        answer["last_ok"] = timezone.localtime(last_ok).isoformat(timespec="seconds")
    if state == "failing":
        answer["error"] = rows[0]["last_error"][:200]
    return answer


def jobs_required():
    """Return True when /healthz fails without healthy job workers (production serving)."""
    return bool(getattr(settings, "HEALTHZ_REQUIRE_JOBS", False))
