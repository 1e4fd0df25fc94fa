"""Raw SQL of the map pages and vector tiles, with bound parameters only.

Tiles are Mapbox Vector Tiles built by PostGIS (``ST_AsMVT`` over ``ST_AsMVTGeom``) in
Web Mercator (``ST_TileEnvelope``); the stored geometries are EPSG:4326, so every query
first cuts with the tile envelope transformed to 4326, on the GiST index of the layer:

- layers_grid.geom (layers_grid_geom_*_id), layers_street/community.geom;
- cases_case.location, layers_rentalhouse.location, layers_gridworker.location.

Area scoping arrives as one of three fixed clauses (``SCOPE_CLAUSES``) and an optional
bound array of grid ids, never as text from the request.
"""

# Reads: from the replica inside replica_reads() (gridmap/db_router.py), else the primary.
from gridmap.db_router import read_connection as connection

EXTENT = 4096
BUFFER = 64

# How each layer limits rows to the viewer's area (see gridmap.tiles.Scope).
#   all:   administrators, every row;
#   grids: the rows of some grids (a bound array), or of every grid (NULL = all grids).
SCOPE_CLAUSES = {
    "all": "TRUE",
    "grids": "(%(grids)s::bigint[] IS NULL AND {col} IS NOT NULL OR {col} = ANY(%(grids)s))",
}

_ENV = """
    WITH env AS (
        SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS e,
               ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326)
                   AS e4
    )
"""


def _scope(kind, col):
    return SCOPE_CLAUSES[kind].format(col=col)


def _one(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    data = row[0] if row else None
    return bytes(data) if data else b""


def tile_params(z, x, y, margin=BUFFER / EXTENT, grids=None):
    return {"z": z, "x": x, "y": y, "margin": margin, "grids": grids}


# --- statements ------------------------------------------------------------------------
# Each builder returns (sql, params) so that the benchmark can run the bare SQL of a tile.


def grids_sql(scope_kind, params, with_names):
    """Return the grid outlines of a tile: id (and name when zoomed in)."""
    names = ", g.name" if with_names else ""
    sql = (
        _ENV
        + f"""
        SELECT ST_AsMVT(t, 'grids', {EXTENT}, 'geom', 'id') FROM (
            SELECT g.id{names},
                   ST_AsMVTGeom(ST_Transform(g.geom, 3857), env.e, {EXTENT}, {BUFFER}, true)
                       AS geom
            FROM layers_grid g, env
            WHERE g.valid_to IS NULL AND g.geom && env.e4 AND {_scope(scope_kind, "g.id")}
        ) t WHERE t.geom IS NOT NULL
    """
    )
    return sql, params


def areas_sql(params):
    """Return street and community outlines with their names (reference data)."""
    sql = (
        _ENV
        + f"""
        SELECT COALESCE((SELECT ST_AsMVT(s, 'streets', {EXTENT}, 'geom') FROM (
                   SELECT a.id, a.name,
                          ST_AsMVTGeom(ST_Transform(a.geom, 3857), env.e, {EXTENT}, {BUFFER}, true)
                              AS geom
                   FROM layers_street a, env WHERE a.geom && env.e4) s
               WHERE s.geom IS NOT NULL), ''::bytea)
            || COALESCE((SELECT ST_AsMVT(c, 'communities', {EXTENT}, 'geom') FROM (
                   SELECT a.id, a.name,
                          ST_AsMVTGeom(ST_Transform(a.geom, 3857), env.e, {EXTENT}, {BUFFER}, true)
                              AS geom
                   FROM layers_community a, env WHERE a.geom && env.e4) c
               WHERE c.geom IS NOT NULL), ''::bytea)
    """
    )
    return sql, params


def cases_points_sql(scope_kind, params, open_statuses):
    """Return open cases as points: id, status, overdue flag and urgency."""
    sql = (
        _ENV
        + f"""
        SELECT ST_AsMVT(t, 'cases', {EXTENT}, 'geom', 'id') FROM (
            SELECT c.id, c.status AS s,
                   (c.deadline IS NOT NULL AND c.deadline < now())::int AS od,
                   CASE c.urgency WHEN 'critical' THEN 2 WHEN 'urgent' THEN 1 ELSE 0 END AS u,
                   ST_AsMVTGeom(ST_Transform(c.location, 3857), env.e, {EXTENT}, {BUFFER}, true)
                       AS geom
            FROM cases_case c, env
            WHERE c.location && env.e4 AND c.status = ANY(%(open)s)
              AND {_scope(scope_kind, "c.grid_id")}
        ) t WHERE t.geom IS NOT NULL
    """
    )
    return sql, {**params, "open": list(open_statuses)}


def rentals_points_sql(scope_kind, params, due_before):
    """Return rental houses as points: id, inspection due, risk flag."""
    sql = (
        _ENV
        + f"""
        SELECT ST_AsMVT(t, 'rentals', {EXTENT}, 'geom', 'id') FROM (
            SELECT r.id,
                   (r.last_inspected IS NULL OR r.last_inspected < %(due_before)s)::int AS due,
                   (r.overcrowded OR r.three_in_one OR r.fire_hazard)::int AS risk,
                   ST_AsMVTGeom(ST_Transform(r.location, 3857), env.e, {EXTENT}, {BUFFER}, true)
                       AS geom
            FROM layers_rentalhouse r, env
            WHERE r.location && env.e4 AND {_scope(scope_kind, "r.grid_id")}
        ) t WHERE t.geom IS NOT NULL
    """
    )
    return sql, {**params, "due_before": due_before}


def workers_sql(scope_kind, params):
    """Return grid workers: their last position, or their first grid's centre if unknown.

    Two index paths instead of one OR: workers with a position (GiST on
    layers_gridworker.location), and workers without one through their grids in the tile
    (GiST on layers_grid.geom).
    """
    sql = (
        _ENV
        + f"""
        , located AS (
            SELECT w.id, 1 AS live, w.location AS pt,
                   (SELECT min(wg.grid_id) FROM layers_gridworker_grids wg
                    WHERE wg.gridworker_id = w.id) AS gid
            FROM layers_gridworker w, env WHERE w.location && env.e4
        ), unlocated AS (
            SELECT DISTINCT ON (w.id) w.id, 0 AS live, ST_PointOnSurface(g.geom) AS pt, g.id AS gid
            FROM layers_grid g, env, layers_gridworker_grids wg, layers_gridworker w
            WHERE g.valid_to IS NULL AND g.geom && env.e4 AND wg.grid_id = g.id
              AND w.id = wg.gridworker_id AND w.location IS NULL
            ORDER BY w.id, g.code
        ), w AS (
            SELECT * FROM located UNION ALL SELECT * FROM unlocated
        )
        SELECT ST_AsMVT(t, 'workers', {EXTENT}, 'geom', 'id') FROM (
            SELECT w.id, w.live, w.gid,
                   ST_AsMVTGeom(ST_Transform(w.pt, 3857), env.e, {EXTENT}, {BUFFER}, true) AS geom
            FROM w, env WHERE {_scope(scope_kind, "w.gid")}
        ) t WHERE t.geom IS NOT NULL
    """
    )
    return sql, params


def grid_ids_in_tile_sql(scope_kind, params):
    """Return the ids of the current grids that meet a tile (for aggregated layers)."""
    sql = (
        _ENV
        + f"""
        SELECT COALESCE(array_agg(g.id), '{{}}') FROM layers_grid g, env
        WHERE g.valid_to IS NULL AND g.geom && env.e4 AND {_scope(scope_kind, "g.id")}
    """
    )
    return sql, params


def community_ids_in_tile_sql(params, communities):
    """Return the ids of the communities that meet a tile (coarse zooms), within a scope."""
    sql = (
        _ENV
        + """
        SELECT COALESCE(array_agg(c.id), '{}') FROM layers_community c, env
        WHERE c.geom && env.e4
          AND (%(comms)s::bigint[] IS NULL OR c.id = ANY(%(comms)s))
    """
    )
    return sql, {**params, "comms": communities}


def community_polygons_sql(params, ids, columns):
    """Return community outlines carrying summed per-grid counts (grids layer, coarse zooms)."""
    names = list(columns)
    arrays = ", ".join(f"%(c{i})s::int[]" for i in range(len(names)))
    cols = ", ".join(f"v.{n}" for n in names)
    sql = (
        _ENV
        + f"""
        , v AS (
            SELECT * FROM unnest(%(ids)s::bigint[], {arrays}) AS v(cid, {", ".join(names)})
        )
        SELECT ST_AsMVT(t, 'grids', {EXTENT}, 'geom') FROM (
            SELECT v.cid, {cols},
                   ST_AsMVTGeom(ST_Transform(c.geom, 3857), env.e, {EXTENT}, {BUFFER}, true)
                       AS geom
            FROM v JOIN layers_community c ON c.id = v.cid, env
        ) t WHERE t.geom IS NOT NULL
    """
    )
    extra = {"ids": list(ids)}
    for i, n in enumerate(names):
        extra[f"c{i}"] = list(columns[n])
    return sql, {**params, **extra}


def grid_communities():
    """Return {grid id: community id} of the current grids."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, community_id FROM layers_grid WHERE valid_to IS NULL")
        return dict(cursor.fetchall())


def aggregate_sql(layer, params, ids, columns, per="grid"):
    """Return one point per grid (its point on surface) carrying per-grid counts.

    `columns` maps attribute names to int arrays aligned with `ids`; the counts come from
    a per-grid summary computed once per data version (gridmap.tiles.summary).
    """
    key, table = {"grid": ("gid", "layers_grid"), "community": ("cid", "layers_community")}[per]
    names = list(columns)
    arrays = ", ".join(f"%(c{i})s::int[]" for i in range(len(names)))
    cols = ", ".join(f"v.{n}" for n in names)
    sql = (
        _ENV
        + f"""
        , v AS (
            SELECT * FROM unnest(%(ids)s::bigint[], {arrays}) AS v({key}, {", ".join(names)})
        )
        SELECT ST_AsMVT(t, '{layer}', {EXTENT}, 'geom') FROM (
            SELECT v.{key}, {cols},
                   ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(g.geom), 3857), env.e,
                                {EXTENT}, {BUFFER}, true) AS geom
            FROM v JOIN {table} g ON g.id = v.{key}, env
        ) t WHERE t.geom IS NOT NULL
    """
    )
    extra = {"ids": list(ids)}
    for i, n in enumerate(names):
        extra[f"c{i}"] = list(columns[n])
    return sql, {**params, **extra}


def run_tile(sql, params):
    """Execute a tile statement and return the tile's bytes (b'' when empty)."""
    return _one(sql, params)


def grid_ids_in_tile(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- per-grid summaries (one GROUP BY per data version) --------------------------------


def case_summary(open_statuses):
    """Return {grid_id: (open, overdue)}; bitmap scan on cases_case (status, deadline)."""
    sql = """
        SELECT grid_id, count(*), count(*) FILTER (WHERE deadline < now())
        FROM cases_case WHERE status = ANY(%s) AND grid_id IS NOT NULL GROUP BY grid_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(open_statuses)])
        return {gid: (n, od) for gid, n, od in cursor.fetchall()}


def rental_summary(due_before):
    """Return {grid_id: (rentals, inspection due)}."""
    sql = """
        SELECT grid_id, count(*),
               count(*) FILTER (WHERE last_inspected IS NULL OR last_inspected < %s)
        FROM layers_rentalhouse WHERE grid_id IS NOT NULL GROUP BY grid_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [due_before])
        return {gid: (n, due) for gid, n, due in cursor.fetchall()}


def person_summary(due_before):
    """Return {grid_id: (persons, floating, verification due)}; never a person's row."""
    sql = """
        SELECT grid_id, count(*), count(*) FILTER (WHERE kind = 'floating'),
               count(*) FILTER (WHERE last_verified IS NULL OR last_verified < %s)
        FROM layers_person WHERE grid_id IS NOT NULL GROUP BY grid_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [due_before])
        return {gid: (n, fl, due) for gid, n, fl, due in cursor.fetchall()}


def fingerprints():
    """Return cheap change markers per table: the highest ids (primary-key index lookups).

    Catches rows added by any means (COPY, bulk_create, another process) and workflow
    steps (each writes a cases_caseevent row); saves through the ORM bump the signal
    counters of gridmap.tiles as well.
    """
    sql = """
        SELECT (SELECT max(id) FROM cases_case), (SELECT max(id) FROM cases_caseevent),
               (SELECT max(id) FROM layers_rentalhouse), (SELECT max(id) FROM layers_person),
               (SELECT max(id) FROM layers_grid), (SELECT max(id) FROM layers_gridworker),
               (SELECT count(*) FROM layers_gridworker_grids)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        c, ce, r, p, g, w, wg = cursor.fetchone()
    return {
        "cases": f"{c}.{ce}",
        "rentals": f"{r}",
        "persons": f"{p}",
        "grids": f"{g}",
        "workers": f"{w}.{wg}",
    }


def scoped_extent(ids):
    """Return (w, s, e, n) of the current grids (all when ids is None), or None."""
    sql = """
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
            SELECT ST_Extent(geom)::geometry AS e FROM layers_grid
            WHERE valid_to IS NULL AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
        ) x
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids})
        row = cursor.fetchone()
    return None if row is None or row[0] is None else tuple(row)


def grid_geoms(ids):
    """Return [(id, wkb)] of current grids, for contiguity weights (hotspot classes)."""
    sql = """
        SELECT id, ST_AsBinary(geom) FROM layers_grid
        WHERE valid_to IS NULL AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
        ORDER BY id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids})
        return [(gid, bytes(wkb)) for gid, wkb in cursor.fetchall()]


def recent_case_counts(since):
    """Return {grid_id: cases reported since `since`} (hotspot input)."""
    sql = """
        SELECT grid_id, count(*) FROM cases_case
        WHERE reported_at >= %s AND grid_id IS NOT NULL GROUP BY grid_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])
        return dict(cursor.fetchall())


def grids_geojson(ids, tolerance=0.00002, bbox=None):
    """Return a FeatureCollection (dict) of current grids limited to ids and/or a bbox."""
    sql = """
        SELECT json_build_object('type', 'FeatureCollection', 'features',
            COALESCE(json_agg(json_build_object(
                'type', 'Feature', 'id', id,
                'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %(tol)s), 6)::json,
                'properties', json_build_object('id', id, 'code', code, 'name', name)
            ) ORDER BY code), '[]'::json))
        FROM layers_grid
        WHERE valid_to IS NULL AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
          AND (%(bbox)s::float8[] IS NULL
               OR geom && ST_MakeEnvelope((%(bbox)s::float8[])[1], (%(bbox)s::float8[])[2],
                                          (%(bbox)s::float8[])[3], (%(bbox)s::float8[])[4],
                                          4326))
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "tol": tolerance, "bbox": bbox})
        return cursor.fetchone()[0]
