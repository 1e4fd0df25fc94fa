"""Reads of tiles and analysis from a streaming replica; everything else from the primary.

Set DATABASE_REPLICA_URL (a postgis:// URL of a hot standby, e.g. scripts/replica.sh) and
the settings add DATABASES["replica"], this router and :class:`ReplicaReadsMiddleware`.

- Only inside :func:`replica_reads` (a context manager and decorator; the middleware
  applies it to GET/HEAD under REPLICA_PATH_PREFIXES, by default ``/tiles/`` and
  ``/analysis/``) do reads go to the replica, and then only the reads of the data apps
  (layers, cases, gridmap): sessions, users and API tokens always come from the primary,
  so that a log-in or a revoked token is seen at once.
- Writes, ``select_for_update`` and reads inside an open transaction on the primary always
  go to the primary.
- Replication lag: a client that wrote (any POST/PUT/PATCH/DELETE) is pinned to the
  primary for REPLICA_PIN_SECONDS by a cookie, so it reads its own writes; and each
  process asks the replica how far behind it is at most every REPLICA_LAG_CHECK_SECONDS
  and sends no one there while the lag exceeds REPLICA_MAX_LAG_SECONDS or the replica is
  unreachable (then everything reads from the primary).
- Raw SQL of the tile and analysis modules uses :data:`read_connection`, which is the
  replica's connection inside ``replica_reads`` and the primary's otherwise.
"""

import contextvars
import functools
import logging
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

log = logging.getLogger(__name__)

REPLICA = "replica"
# Models of these apps may be read from the replica inside replica_reads().
REPLICA_APPS = {"layers", "cases", "gridmap"}
PIN_COOKIE = "gm_primary_until"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

_replica_reads = contextvars.ContextVar("gridmap_replica_reads", default=False)


def configured():
    return REPLICA in settings.DATABASES


class _LagState:
    """What this process last learnt about the replica: usable or not, until when."""

    def __init__(self):
        self.lock = threading.Lock()
        self.checked_at = 0.0
        self.usable = True
        self.lag = 0.0

    def reset(self):
        with self.lock:
            self.checked_at, self.usable, self.lag = 0.0, True, 0.0


_state = _LagState()


def measure_lag():
    """Return the replica's replay lag in seconds (0 when it has replayed all it received)."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
            " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
            " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
            " END"
        )
        return float(cursor.fetchone()[0])


def replica_usable():
    """Return True when the replica answers and is not too far behind (checked now and then)."""
    if not configured():
        return False
    now = time.monotonic()
    every = float(getattr(settings, "REPLICA_LAG_CHECK_SECONDS", 2))
    if now - _state.checked_at < every:
        return _state.usable
    with _state.lock:
        if now - _state.checked_at < every:
            return _state.usable
        try:
            lag = measure_lag()
            usable = lag <= float(getattr(settings, "REPLICA_MAX_LAG_SECONDS", 5))
            if not usable:
                log.warning("replica %.1f s behind: reading from the primary", lag)
        except DatabaseError as exc:
            lag, usable = float("inf"), False
            log.warning("replica unreachable, reading from the primary: %s", exc)
            connections[REPLICA].close_if_unusable_or_obsolete()
        _state.lag, _state.usable, _state.checked_at = lag, usable, time.monotonic()
        return usable


def mark_replica_down():
    """Stop reading from the replica until the next lag check says it is back."""
    with _state.lock:
        _state.usable, _state.checked_at = False, time.monotonic()


def current_read_alias():
    """Return the alias reads go to now: the replica inside replica_reads(), if usable."""
    if not _replica_reads.get() or not configured():
        return DEFAULT_DB_ALIAS
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS  # read your own uncommitted writes
    return REPLICA if replica_usable() else DEFAULT_DB_ALIAS


class replica_reads:  # noqa: N801 (used like a function: as a decorator and a with-block)
    """Within this block (or decorated function), tile and analysis reads may use the replica."""

    def __init__(self, func=None, enabled=True):
        self.enabled = enabled
        self.tokens = []
        if func is not None:
            functools.update_wrapper(self, func)
        self.func = func

    def __enter__(self):
        self.tokens.append(_replica_reads.set(self.enabled))
        return self

    def __exit__(self, *exc):
        _replica_reads.reset(self.tokens.pop())
        return False

    def __call__(self, *args, **kwargs):
        with replica_reads(enabled=self.enabled):
            return self.func(*args, **kwargs)

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return functools.partial(self.__call__, instance)


def primary_reads():
    """Return a block in which every read goes to the primary."""
    return replica_reads(enabled=False)


class PrimaryReplicaRouter:
    """Route reads of the data apps to the replica inside replica_reads(); writes to primary."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label not in REPLICA_APPS:
            return DEFAULT_DB_ALIAS
        return current_read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica is a copy of the primary: objects from either may be related.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class _ReadConnection:
    """The connection raw read-only SQL should use now (see current_read_alias)."""

    def __getattr__(self, item):
        return getattr(connections[current_read_alias()], item)


# For raw SQL modules: ``from gridmap.db_router import read_connection as connection``.
read_connection = _ReadConnection()


def _prefixes():
    return tuple(getattr(settings, "REPLICA_PATH_PREFIXES", ("/tiles/", "/analysis/")))


def pinned(request, now=None):
    """Return True while the client is pinned to the primary after a write of its own."""
    raw = request.COOKIES.get(PIN_COOKIE, "")
    try:
        until = float(raw)
    except ValueError:
        return False
    return (now or time.time()) < until


class ReplicaReadsMiddleware:
    """Read tiles and analysis from the replica; pin a client to the primary after it writes.

    The view runs inside replica_reads(); should the replica fail during a read, the view
    runs once more against the primary (GET/HEAD only, so running it again is harmless).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method in UNSAFE_METHODS and response.status_code < 500 and configured():
            seconds = float(getattr(settings, "REPLICA_PIN_SECONDS", 10))
            response.set_cookie(
                PIN_COOKIE,
                f"{time.time() + seconds:.3f}",
                max_age=int(seconds) + 1,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response

    def use_replica(self, request):
        return (
            configured()
            and request.method in ("GET", "HEAD")
            and request.path.startswith(_prefixes())
            and not pinned(request)
        )

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not self.use_replica(request):
            return None
        request.read_from = REPLICA
        try:
            with replica_reads():
                return view_func(request, *view_args, **view_kwargs)
        except DatabaseError as exc:
            if _replica_is_down():
                log.warning(
                    "replica failed during %s, reading from the primary: %s", request.path, exc
                )
                mark_replica_down()
                request.read_from = DEFAULT_DB_ALIAS
                return view_func(request, *view_args, **view_kwargs)
            raise


def _replica_is_down():
    conn = connections[REPLICA]
    try:
        conn.close_if_unusable_or_obsolete()
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        return False
    except DatabaseError:
        conn.close()
        return True
