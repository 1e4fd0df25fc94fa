"""Vector tiles of the map pages: layers, area scoping, data versions and the tile cache.

A tile is built by PostGIS (gridmap/sql_tiles.py) for one layer, one z/x/y and one
viewer's area, and cached under a key that carries all three plus the layer's data
version, so a change in the data or in the viewer's area never serves a stale tile:

- the data version of a layer is a counter bumped by post_save/post_delete signals (kept in
  the shared "tiles" cache, so every process sees it) joined with a fingerprint of the
  tables (their highest ids, re-read at most every FINGERPRINT_SECONDS), which also catches
  rows written without signals (COPY, bulk_create, queryset.update + a workflow event);
- the scope is what accounts.scoping allows the viewer: every row (administrators), every
  grid (a whole-district role on a one-district database), or a list of grid ids (street,
  community, grid worker). A viewer with no area gets empty tiles.

Low zooms are aggregated (counts per grid, drawn at the grid's point on surface); persons
are always aggregated: no tile ever carries a person's row.
"""

import hashlib
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.filebased import FileBasedCache
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from gridmap import sql_tiles

LAYERS = ("grids", "areas", "cases", "rentals", "persons", "workers")
# Which data versions a layer's tiles depend on.
DEPENDS = {
    "grids": ("grids", "workers"),
    "areas": ("grids",),
    "cases": ("cases", "grids", "workers"),
    "rentals": ("rentals", "grids", "workers"),
    "persons": ("persons", "grids", "workers"),
    "workers": ("workers", "grids"),
}
# The map pages draw 512-pixel tiles (maps.vector_layer): a tile of zoom z is shown at map
# zoom z + 1, and a quarter as many requests fill the screen. The zooms below are tile
# zooms; the pages' style functions see map zooms.
TILE_SIZE = 512
ZOOM_OFFSET = -1
# Part of every tile's cache key: raise it when what a tile holds at a zoom changes (as
# when the thresholds below moved for 512-pixel tiles), so no cached tile of the old
# kind is served after a deployment.
TILE_SCHEMA = 2
# Tile zoom from which points are drawn one by one (map zoom 14 for cases); below it,
# counts per grid.
POINT_ZOOM = {"cases": 13, "rentals": 14}
GRID_NAME_ZOOM = 13
# Tile zoom up to which grids are too small to draw one by one: counts per community.
COARSE_ZOOM = 11
MIN_ZOOM, MAX_ZOOM = 0, 22
# Case tiles also age (overdue is relative to now): keep them a minute at most.
TILE_TIMEOUT = {"cases": 60, "workers": 120}
DEFAULT_TILE_TIMEOUT = 3600
FINGERPRINT_SECONDS = 1.0
SCOPE_SECONDS = 30.0
RENTAL_INSPECTION_DAYS = 90
PERSON_VERIFICATION_DAYS = 180


class TileFileCache(FileBasedCache):
    """A file cache that culls every CULL_EVERY writes instead of on each one.

    Django's file cache lists its whole directory on every set() to decide whether to cull;
    with thousands of tiles that costs more than building a tile.
    """

    CULL_EVERY = 200

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._writes = 0

    def _cull(self):
        self._writes += 1
        if self._writes % self.CULL_EVERY == 0:
            super()._cull()


def tile_cache():
    try:
        return caches["tiles"]
    except InvalidCacheBackendError:
        return caches["default"]


def _db():
    return connection.settings_dict["NAME"]


# --- data versions ----------------------------------------------------------------------

_local = threading.local()
_fingerprint_lock = threading.Lock()
_fingerprint = {"db": None, "at": 0.0, "values": {}}


# The version counters: one small file per database, next to the tile cache, with an 8-byte
# slot per name, read and written in place (pread/pwrite on a descriptor kept open). Every
# tile and every intake touches them; as file-cache entries each write was a temporary
# file and a rename (~0.6 ms) and each read an open and an unpickle per name. A write
# only ever changes its own slot, and a torn read could only make a version that matches
# no cached tile (a miss, never a stale tile).
COUNTER_NAMES = ("cases", "rentals", "persons", "grids", "workers")
_SLOT = {name: i * 8 for i, name in enumerate(COUNTER_NAMES)}
_counter_fds = {}
_counter_lock = threading.Lock()


def _counter_fd():
    db = _db()
    fd = _counter_fds.get(db)
    if fd is None:
        with _counter_lock:
            fd = _counter_fds.get(db)
            if fd is None:
                from django.conf import settings

                folder = Path(settings.CACHES["tiles"]["LOCATION"]).parent / "versions"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{quote(db, safe='')}.bin"
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                _counter_fds[db] = fd
    return fd


def read_counters():
    """Return {name: the time_ns of its last bump, or 0}."""
    raw = os.pread(_counter_fd(), 8 * len(COUNTER_NAMES), 0).ljust(8 * len(COUNTER_NAMES), b"\0")
    return {name: int.from_bytes(raw[i : i + 8], "little") for name, i in _SLOT.items()}


def write_counter(name, value):
    os.pwrite(_counter_fd(), value.to_bytes(8, "little"), _SLOT[name])


def bump(*names):
    """Mark the data of these version names as changed (called by the signal handlers).

    Inside a request (coalesced_bumps, DataVersionMiddleware) the names are written once
    when it ends, after its transaction: an intake saves a case and its event, which
    were two writes to the shared cache, both before the commit.
    """
    pending = getattr(_local, "pending_bumps", None)
    if pending is not None:
        pending.update(names)
        return
    _write_bumps(names)


def _write_bumps(names):
    stamp = time.time_ns()
    for name in names:
        write_counter(name, stamp)
    with _fingerprint_lock:
        _fingerprint["at"] = 0.0


def _flush_bumps():
    pending = getattr(_local, "pending_bumps", None)
    if pending:
        names = set(pending)
        pending.clear()
        _write_bumps(names)


@contextmanager
def coalesced_bumps():
    """Hold the version bumps of the block and write each name once at its end."""
    outer = getattr(_local, "pending_bumps", None)
    _local.pending_bumps = set() if outer is None else outer
    try:
        yield
    finally:
        if outer is None:
            try:
                _flush_bumps()
            finally:
                _local.pending_bumps = None


def _fingerprints():
    now = time.monotonic()
    db = _db()
    with _fingerprint_lock:
        if _fingerprint["db"] == db and now - _fingerprint["at"] < FINGERPRINT_SECONDS:
            return _fingerprint["values"]
    values = sql_tiles.fingerprints()
    with _fingerprint_lock:
        _fingerprint.update(db=db, at=now, values=values)
    return values


def versions(names=("cases", "rentals", "persons", "grids", "workers")):
    """Return {name: version string} for the given data version names."""
    _flush_bumps()  # a read after a write in the same request sees the write
    prints = _fingerprints()
    counters = read_counters()
    return {n: f"{counters[n]}-{prints[n]}" for n in names}


def layer_version(layer):
    """Return the version of a tile layer's data (changes whenever a tile could change)."""
    deps = DEPENDS[layer]
    v = versions(deps)
    # With the schema in the version, the pages' tile URLs (?v=) change with it too, and
    # no browser keeps a tile of the old kind.
    raw = "|".join([str(TILE_SCHEMA), *(v[d] for d in deps)])
    return hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()


def invalidate_all():
    """Forget every cached tile and summary (tests and benchmarks)."""
    tile_cache().clear()
    _summaries.clear()
    _scopes.clear()
    _communities.clear()
    with _fingerprint_lock:
        _fingerprint["at"] = 0.0


# --- the viewer's area --------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a viewer may see: kind 'all' (every row) or 'grids' (grid ids; None = all grids)."""

    kind: str
    grids: tuple | None
    key: str

    @property
    def empty(self):
        return self.kind == "grids" and self.grids is not None and not self.grids

    def grid_list(self):
        return None if self.grids is None else list(self.grids)

    def allows_grid(self, grid_id):
        return self.kind == "all" or self.grids is None or grid_id in self._set

    @property
    def _set(self):
        cached = self.__dict__.get("_grid_set")
        if cached is None:
            cached = frozenset(self.grids or ())
            object.__setattr__(self, "_grid_set", cached)
        return cached


_scopes = {}
_scopes_lock = threading.Lock()


def viewer_scope(user):
    """Return the Scope of a user, from accounts.scoping (cached for SCOPE_SECONDS)."""
    from accounts.scoping import PATHS, area_q, scope
    from layers.models import Grid

    if not getattr(user, "is_authenticated", False):
        return Scope("grids", (), "none")
    ver = versions(("grids", "workers"))
    key = (
        _db(),
        user.pk,
        getattr(user, "role", ""),
        getattr(user, "district_id", None),
        getattr(user, "street_id", None),
        getattr(user, "community_id", None),
        user.is_superuser,
        user.is_active,
        ver["grids"],
        ver["workers"],
    )
    now = time.monotonic()
    with _scopes_lock:
        hit = _scopes.get(key)
        if hit and now - hit[0] < SCOPE_SECONDS:
            return hit[1]
    q = area_q(user, PATHS["layers.grid"])
    if q == Q():
        result = Scope("all", None, "all")
    else:
        ids = sorted(scope(user, Grid.objects.current()).values_list("pk", flat=True))
        total = Grid.objects.current().count()
        if ids and len(ids) == total:
            result = Scope("grids", None, "allgrids")
        else:
            digest = hashlib.blake2b(",".join(map(str, ids)).encode(), digest_size=8)
            result = Scope("grids", tuple(ids), f"g{len(ids)}-{digest.hexdigest()}")
    with _scopes_lock:
        if len(_scopes) > 2000:
            _scopes.clear()
        _scopes[key] = (now, result)
    return result


# --- per-grid summaries -------------------------------------------------------------------

_summaries = {}
_summaries_lock = threading.Lock()


def _due_before(days):
    return timezone.localdate() - timedelta(days=days)


def summary(name):
    """Return the per-grid summary of 'cases', 'rentals' or 'persons' for the data version.

    One GROUP BY over the table per data version, kept in this process and in the shared
    tile cache; the aggregated tiles and the grid statistics of the wall map read it.
    """
    from cases.models import OPEN_STATUSES

    ver = versions((name,))[name]
    # Overdue and "due" depend on the date and time: a summary lives a minute at most.
    minute = int(time.time() // 60)
    key = f"gm:sum:{_db()}:{name}:{ver}:{minute}"
    with _summaries_lock:
        hit = _summaries.get(key)
    if hit is not None:
        return hit
    cache = tile_cache()
    data = cache.get(key)
    if data is None:
        if name == "cases":
            data = sql_tiles.case_summary(OPEN_STATUSES)
        elif name == "rentals":
            data = sql_tiles.rental_summary(_due_before(RENTAL_INSPECTION_DAYS))
        elif name == "persons":
            data = sql_tiles.person_summary(_due_before(PERSON_VERIFICATION_DAYS))
        else:
            raise ValueError(name)
        cache.set(key, data, 120)
    with _summaries_lock:
        for old in [k for k in _summaries if k.startswith(f"gm:sum:{_db()}:{name}:")]:
            del _summaries[old]
        _summaries[key] = data
    return data


SUMMARY_COLUMNS = {
    "cases": ("n", "od"),
    "rentals": ("n", "due"),
    "persons": ("n", "fl", "due"),
}


# --- tiles ------------------------------------------------------------------------------


class TileError(ValueError):
    """A tile request that names no layer or no tile."""


def map_zoom(tile_zoom):
    """Return the map zoom at which the pages show tiles of this zoom."""
    return tile_zoom - ZOOM_OFFSET


def check_tile(layer, z, x, y):
    """Raise TileError unless layer and z/x/y name a tile."""
    if layer not in LAYERS:
        raise TileError(f"未知图层 {layer} / unknown layer {layer}")
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise TileError(f"缩放级别须在 {MIN_ZOOM}–{MAX_ZOOM} / zoom must be {MIN_ZOOM}–{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise TileError(f"瓦片 {z}/{x}/{y} 不存在 / no tile {z}/{x}/{y}")


_communities = {}


def grid_communities():
    """Return {grid id: community id} of the current grids (per grids version)."""
    key = (_db(), versions(("grids",))["grids"])
    hit = _communities.get(key)
    if hit is None:
        hit = sql_tiles.grid_communities()
        _communities.clear()
        _communities[key] = hit
    return hit


def coarse(layer, z):
    """Return True when a layer's tile at zoom z is aggregated per community."""
    return z <= COARSE_ZOOM and layer in ("grids", "cases", "rentals", "persons")


def _scope_communities(sc):
    if sc.kind == "all" or sc.grids is None:
        return None
    mapping = grid_communities()
    return sorted({mapping[g] for g in sc.grids if g in mapping})


def statements(layer, z, x, y, sc):
    """Return the list of (sql, params) that build a tile (the bench runs them bare).

    Aggregated layers need the grid ids in the tile first; for those the second statement
    is built by `aggregate_statement` from the first one's answer.
    """
    from cases.models import OPEN_STATUSES

    params = sql_tiles.tile_params(z, x, y, grids=sc.grid_list())
    kind = sc.kind
    if coarse(layer, z):
        return [sql_tiles.community_ids_in_tile_sql(params, _scope_communities(sc))]
    if layer == "grids":
        return [sql_tiles.grids_sql(kind, params, with_names=z >= GRID_NAME_ZOOM)]
    if layer == "areas":
        return [sql_tiles.areas_sql(params)]
    if layer == "workers":
        return [sql_tiles.workers_sql(kind, params)]
    if layer == "cases" and z >= POINT_ZOOM["cases"]:
        return [sql_tiles.cases_points_sql(kind, params, OPEN_STATUSES)]
    if layer == "rentals" and z >= POINT_ZOOM["rentals"]:
        return [sql_tiles.rentals_points_sql(kind, params, _due_before(RENTAL_INSPECTION_DAYS))]
    return [sql_tiles.grid_ids_in_tile_sql(kind, params)]


def _community_sums(layer, sc, community_ids):
    """Return (ids, {column: values}) of per-community sums of a per-grid summary."""
    source = "cases" if layer == "grids" else layer
    data = summary(source)
    cols = SUMMARY_COLUMNS[source]
    wanted = set(community_ids)
    sums = {}
    for gid, cid in grid_communities().items():
        if cid not in wanted or not sc.allows_grid(gid):
            continue
        row = sums.setdefault(cid, [0] * (len(cols) + 1))
        row[-1] += 1
        for i, value in enumerate(data.get(gid, ())):
            row[i] += value
    ids = sorted(sums)
    columns = {c: [sums[cid][i] for cid in ids] for i, c in enumerate(cols)}
    columns["g"] = [sums[cid][-1] for cid in ids]
    return ids, columns


def aggregate_statement(layer, z, x, y, sc, grid_ids):
    """Return the (sql, params) of an aggregated tile for the grids (or communities) it meets."""
    if coarse(layer, z):
        ids, columns = _community_sums(layer, sc, grid_ids)
        params = sql_tiles.tile_params(z, x, y)
        if layer == "grids":
            return sql_tiles.community_polygons_sql(params, ids, columns)
        return sql_tiles.aggregate_sql(layer, params, ids, columns, per="community")
    data = summary(layer)
    cols = SUMMARY_COLUMNS[layer]
    ids = [g for g in grid_ids if g in data]
    columns = {c: [data[g][i] for g in ids] for i, c in enumerate(cols)}
    params = sql_tiles.tile_params(z, x, y)
    return sql_tiles.aggregate_sql(layer, params, ids, columns)


def needs_aggregate(layer, z):
    """Return True when a tile is built in two steps: ids in the tile, then counts."""
    if coarse(layer, z):
        return True
    return layer in SUMMARY_COLUMNS and not (layer in POINT_ZOOM and z >= POINT_ZOOM[layer])


def build_tile(layer, z, x, y, sc):
    """Return the bytes of a tile, built by PostGIS (no cache)."""
    if sc.empty:
        return b""
    stmts = statements(layer, z, x, y, sc)
    sql, params = stmts[0]
    if needs_aggregate(layer, z):
        grid_ids = sql_tiles.grid_ids_in_tile(sql, params)
        if not grid_ids:
            return b""
        sql, params = aggregate_statement(layer, z, x, y, sc, grid_ids)
    return sql_tiles.run_tile(sql, params)


def tile(layer, z, x, y, user):
    """Return (bytes, version, hit) of a tile for the user, from the cache when it can."""
    check_tile(layer, z, x, y)
    sc = viewer_scope(user)
    ver = layer_version(layer)
    key = f"gm:t{TILE_SCHEMA}:{_db()}:{layer}:{z}:{x}:{y}:{ver}:{sc.key}"
    cache = tile_cache()
    data = cache.get(key)
    if data is not None:
        return data, ver, True
    data = build_tile(layer, z, x, y, sc)
    cache.set(key, data, TILE_TIMEOUT.get(layer, DEFAULT_TILE_TIMEOUT))
    return data, ver, False


# --- signals ------------------------------------------------------------------------------

_connected = False


def connect_signals():
    """Bump data versions when the ORM writes a row of a mapped layer (once per process)."""
    global _connected
    if _connected:
        return
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from cases.models import Callback, Case, CaseEvent
    from layers.models import Community, Grid, GridWorker, Person, RentalHouse, Street

    mapping = {
        Case: ("cases",),
        CaseEvent: ("cases",),
        Callback: ("cases",),
        RentalHouse: ("rentals",),
        Person: ("persons",),
        Grid: ("grids",),
        Street: ("grids",),
        Community: ("grids",),
        GridWorker: ("workers",),
    }
    for model, names in mapping.items():

        def handler(sender, names=names, **kwargs):
            bump(*names)

        uid = f"gridmap.tiles.{model._meta.label_lower}"
        post_save.connect(handler, sender=model, weak=False, dispatch_uid=uid + ".save")
        post_delete.connect(handler, sender=model, weak=False, dispatch_uid=uid + ".delete")
    m2m_changed.connect(
        lambda **kw: bump("workers"),
        sender=GridWorker.grids.through,
        weak=False,
        dispatch_uid="gridmap.tiles.workergrids",
    )
    _connected = True
