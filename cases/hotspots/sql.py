"""Raw SQL of hotspot analysis (分析研判), with bound parameters only.

Everything is aggregated in PostGIS: Python receives one row per grid (or per grid and
week), never one row per case or person, except the case points of the kernel density.

Indexes: for a small area (≤ WHOLE_TABLE_GRIDS grids) the per-grid aggregates probe the
grid_id indexes of layers_person, layers_rentalhouse and cases_case; for a large one
(a district of thousands of grids) they aggregate the tables in one sequential pass and
keep the selected grids in the final join, because thousands of index probes read rows
scattered over the whole table. layers_grid is read by primary key; the data version
reads only primary keys and statistics counters.
"""

# Reads: from the replica inside replica_reads() (gridmap/db_router.py), else the primary.
from gridmap.db_router import read_connection as connection

WHOLE_TABLE_GRIDS = 300

# Cases merged into another case are duplicate reports of one matter: never counted.
_CASE_FILTER = """
    {grid_filter}
    k.reported_at >= %(start)s AND k.reported_at < %(end)s
    AND k.status <> 'merged'
    AND (%(category_id)s::integer IS NULL OR k.category_id = %(category_id)s::integer)
    AND (%(source)s::text IS NULL OR k.source = %(source)s::text)
"""

GRID_INDICATORS = """
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
    WHERE {person_filter}
    GROUP BY grid_id
),
r AS (
    SELECT grid_id, count(*) AS rentals, COALESCE(sum(rooms), 0) AS rooms,
           COALESCE(sum(tenant_count), 0) AS tenants
    FROM layers_rentalhouse
    WHERE {rental_filter}
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
    WHERE {case_filter}
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


def _filters(grid_ids):
    """Return the constant SQL fragments that limit rows to the grids (see module doc)."""
    if len(grid_ids) > WHOLE_TABLE_GRIDS:
        # Rows of other grids are aggregated too, then dropped by the join with g (or,
        # for cases, by the explicit IN list of the caller's grids).
        grid = "grid_id IS NOT NULL"
        case_grid = "k.grid_id IN (SELECT unnest(%(grid_ids)s::integer[])) AND"
    else:
        grid = "grid_id = ANY(%(grid_ids)s)"
        case_grid = "k.grid_id = ANY(%(grid_ids)s) AND"
    return {
        "person_filter": grid,
        "rental_filter": grid,
        "case_filter": _CASE_FILTER.format(grid_filter=case_grid),
    }


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
        cursor.execute(GRID_INDICATORS.format(**_filters(grid_ids)), params)
        return cursor.fetchall()


WEEKLY_CUBE = """
SELECT k.grid_id,
       date_trunc('week', k.reported_at AT TIME ZONE 'Asia/Shanghai')::date AS week,
       count(*)
FROM cases_case k
WHERE {case_filter}
GROUP BY 1, 2
"""


def weekly_case_rows(*, grid_ids, start, end, category_id=None, source=None):
    """Return (grid id, Monday of the week in Beijing time, cases) for non-empty bins."""
    params = _case_params(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    with connection.cursor() as cursor:
        cursor.execute(WEEKLY_CUBE.format(**_filters(grid_ids)), params)
        return cursor.fetchall()


CASE_POINTS = """
SELECT ST_X(p), ST_Y(p)
FROM (SELECT ST_Transform(k.location, %(metric_srid)s) AS p
      FROM cases_case k
      WHERE {case_filter}) x
"""


def case_points(*, grid_ids, start, end, metric_srid, category_id=None, source=None):
    """Return the (x, y) metres of every counted case, for the kernel density."""
    params = _case_params(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    params["metric_srid"] = metric_srid
    with connection.cursor() as cursor:
        cursor.execute(CASE_POINTS.format(**_filters(grid_ids)), params)
        return cursor.fetchall()


CASE_BINS = """
SELECT floor((ST_X(p) - %(xmin)s) / %(cell)s)::integer AS col,
       floor((%(ymax)s - ST_Y(p)) / %(cell)s)::integer AS row,
       count(*)
FROM (SELECT ST_Transform(k.location, %(metric_srid)s) AS p
      FROM cases_case k
      WHERE {case_filter}) x
GROUP BY 1, 2
"""


def case_bins(
    *, grid_ids, start, end, metric_srid, xmin, ymax, cell, category_id=None, source=None
):
    """Return (column, row, cases) of the counted cases on a raster of square cells.

    Cell (0, 0) has its north-west corner at (xmin, ymax) metres; binning in PostGIS
    sends one row per non-empty cell instead of one per case.
    """
    params = _case_params(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    params.update(metric_srid=metric_srid, xmin=float(xmin), ymax=float(ymax), cell=float(cell))
    with connection.cursor() as cursor:
        cursor.execute(CASE_BINS.format(**_filters(grid_ids)), params)
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

    Counting rows and reading the newest update time would scan 1,500,000 rows at city
    scale (~1 s), more than a cached answer is worth. Instead: the newest id of each
    table (primary-key index; ids are never reused, even after a rollback, so an insert
    always shows at once) and PostgreSQL's cumulative insert/update/delete counters of
    the tables, plus those of the current transaction. Updates and deletes made by
    other connections show once those connections have reported their statistics
    (PostgreSQL does so within about a second, at most a minute, when busy), so a
    cached analysis can lag an edit by that much.
    """
    sql = """
        SELECT concat_ws('|',
            (SELECT max(id) FROM cases_case),
            (SELECT max(id) FROM layers_person),
            (SELECT max(id) FROM layers_rentalhouse),
            (SELECT string_agg(concat_ws(':', relname, n_tup_ins, n_tup_upd, n_tup_del,
                                         pg_stat_get_xact_tuples_inserted(relid),
                                         pg_stat_get_xact_tuples_updated(relid),
                                         pg_stat_get_xact_tuples_deleted(relid)),
                               ',' ORDER BY relname)
             FROM pg_stat_user_tables
             WHERE relname IN ('cases_case', 'layers_person', 'layers_rentalhouse')))
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]
