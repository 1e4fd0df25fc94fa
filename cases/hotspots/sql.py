"""Raw SQL of hotspot analysis (分析研判), with bound parameters only.

Everything is aggregated in PostGIS: Python receives one row per grid (or per grid and
week), never one row per case or person, except the case points of the kernel density.

Indexes relied on: layers_person (grid_id, kind) and layers_rentalhouse (grid_id,
last_inspected) for the per-grid population and rentals; cases_case's grid_id foreign-key
index for the case counts; layers_grid's GiST index is not needed (grids are read by id).
"""

# Reads: from the replica inside replica_reads() (gridmap/db_router.py), else the primary.
from gridmap.db_router import read_connection as connection

# Cases merged into another case are duplicate reports of one matter: never counted.
_CASE_FILTER = """
    k.grid_id = ANY(%(grid_ids)s)
    AND k.reported_at >= %(start)s AND k.reported_at < %(end)s
    AND k.status <> 'merged'
    AND (%(category_id)s::integer IS NULL OR k.category_id = %(category_id)s::integer)
    AND (%(source)s::text IS NULL OR k.source = %(source)s::text)
"""

GRID_INDICATORS = f"""
WITH g AS (
    SELECT g.id, g.code, g.name, g.community_id, c.name AS community, c.kind AS community_kind,
           c.street_id, s.name AS street,
           ST_Area(ST_Transform(g.geom, %(metric_srid)s)) / 1e6 AS area_km2
    FROM layers_grid g
    JOIN layers_community c ON c.id = g.community_id
    JOIN layers_street s ON s.id = c.street_id
    WHERE g.valid_to IS NULL AND g.id = ANY(%(grid_ids)s)
),
p AS (
    SELECT grid_id,
           count(*) FILTER (WHERE kind = 'registered') AS registered,
           count(*) FILTER (WHERE kind = 'floating') AS floating,
           count(*) FILTER (WHERE NOT registered_with_police) AS unregistered_tenants
    FROM layers_person
    WHERE grid_id = ANY(%(grid_ids)s)
    GROUP BY grid_id
),
r AS (
    SELECT grid_id, count(*) AS rentals, COALESCE(sum(rooms), 0) AS rooms,
           COALESCE(sum(tenant_count), 0) AS tenants
    FROM layers_rentalhouse
    WHERE grid_id = ANY(%(grid_ids)s)
    GROUP BY grid_id
),
k AS (
    SELECT k.grid_id, count(*) AS cases,
           -- Overdue: past its deadline when resolved, or still unresolved past it now.
           count(*) FILTER (
               WHERE k.deadline IS NOT NULL
               AND COALESCE(k.resolved_at, k.closed_at, %(now)s) > k.deadline
           ) AS overdue
    FROM cases_case k
    WHERE {_CASE_FILTER}
    GROUP BY k.grid_id
)
SELECT g.id, g.code, g.name, g.community_id, g.community, g.community_kind, g.street_id,
       g.street, g.area_km2,
       COALESCE(p.registered, 0), COALESCE(p.floating, 0), COALESCE(p.unregistered_tenants, 0),
       COALESCE(r.rentals, 0), COALESCE(r.rooms, 0), COALESCE(r.tenants, 0),
       COALESCE(k.cases, 0), COALESCE(k.overdue, 0)
FROM g
LEFT JOIN p ON p.grid_id = g.id
LEFT JOIN r ON r.grid_id = g.id
LEFT JOIN k ON k.grid_id = g.id
ORDER BY g.code
"""

GRID_INDICATOR_COLUMNS = [
    "id",
    "code",
    "name",
    "community_id",
    "community",
    "community_kind",
    "street_id",
    "street",
    "area_km2",
    "registered",
    "floating",
    "unregistered_tenants",
    "rentals",
    "rooms",
    "tenants",
    "cases",
    "overdue",
]


def _case_params(*, grid_ids, start, end, category_id=None, source=None):
    return {
        "grid_ids": list(grid_ids),
        "start": start,
        "end": end,
        "category_id": category_id,
        "source": source or None,
    }


def grid_indicator_rows(*, grid_ids, start, end, now, metric_srid, category_id=None, source=None):
    """Return one tuple per current grid (GRID_INDICATOR_COLUMNS) for the period."""
    params = _case_params(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    params.update(now=now, metric_srid=metric_srid)
    with connection.cursor() as cursor:
        cursor.execute(GRID_INDICATORS, params)
        return cursor.fetchall()


WEEKLY_CUBE = f"""
SELECT k.grid_id,
       date_trunc('week', k.reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week,
       count(*)
FROM cases_case k
WHERE {_CASE_FILTER}
GROUP BY 1, 2
"""


def weekly_case_rows(*, grid_ids, start, end, category_id=None, source=None):
    """Return (grid id, Monday of the week in Beijing time, cases) for non-empty bins."""
    params = _case_params(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    with connection.cursor() as cursor:
        cursor.execute(WEEKLY_CUBE, params)
        return cursor.fetchall()


CASE_POINTS = f"""
SELECT ST_X(p), ST_Y(p)
FROM (SELECT ST_Transform(k.location, %(metric_srid)s) AS p FROM cases_case k
      WHERE {_CASE_FILTER}) x
"""


def case_points(*, grid_ids, start, end, metric_srid, category_id=None, source=None):
    """Return the (x, y) metres of every counted case, for the kernel density."""
    params = _case_params(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    params["metric_srid"] = metric_srid
    with connection.cursor() as cursor:
        cursor.execute(CASE_POINTS, params)
        return cursor.fetchall()


def grid_extent(*, grid_ids, srid):
    """Return (xmin, ymin, xmax, ymax) of the grids in the given SRID, or None."""
    sql = """
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(ST_Transform(geom, %(srid)s))::geometry AS e
              FROM layers_grid WHERE valid_to IS NULL AND id = ANY(%(grid_ids)s)) x
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"grid_ids": list(grid_ids), "srid": srid})
        row = cursor.fetchone()
    return None if row is None or row[0] is None else tuple(float(v) for v in row)


def grid_geometries(*, grid_ids, tolerance=0.0):
    """Return (id, WKB) of the current grids, simplified by `tolerance` degrees if > 0."""
    sql = """
        SELECT id, ST_AsBinary(CASE WHEN %(tol)s > 0
                                    THEN ST_SimplifyPreserveTopology(geom, %(tol)s)
                                    ELSE geom END)
        FROM layers_grid WHERE valid_to IS NULL AND id = ANY(%(grid_ids)s)
        ORDER BY id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"grid_ids": list(grid_ids), "tol": tolerance})
        return [(gid, bytes(wkb)) for gid, wkb in cursor.fetchall()]


def grid_layer_stamp():
    """Return a value that changes whenever a grid is added, redrawn or retired."""
    sql = """
        SELECT count(*), COALESCE(max(id), 0), max(valid_from)::text,
               max(valid_to)::text, count(valid_to)
        FROM layers_grid
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return "|".join(str(v) for v in cursor.fetchone())


def data_stamp():
    """Return a value that changes whenever a case, person or rental house changes.

    Rows are counted and the newest id and update time read: an insert moves the id (ids
    are never reused, even after a rollback), an update the time, a delete the count.
    """
    sql = """
        SELECT (SELECT count(*) || ':' || COALESCE(max(id), 0) || ':'
                       || COALESCE(max(updated_at)::text, '') FROM cases_case),
               (SELECT count(*) || ':' || COALESCE(max(id), 0) || ':'
                       || COALESCE(max(updated_at)::text, '') FROM layers_person),
               (SELECT count(*) || ':' || COALESCE(max(id), 0) || ':'
                       || COALESCE(max(updated_at)::text, '') FROM layers_rentalhouse)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return "|".join(cursor.fetchone())
