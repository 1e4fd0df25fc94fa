"""Raw SQL of the layers app, with bound parameters only."""

from django.conf import settings
from django.db import connection

from gridmap import prepared

# Table names cannot be bound; only these may be interpolated.
AREA_TABLES = {
    "street": "layers_street",
    "community": "layers_community",
    "grid": "layers_grid",
}


def area_feature_collection(kind, ids=None, tolerance=0.00002):
    """Return a GeoJSON FeatureCollection (dict) of areas, simplified for display.

    Built in PostGIS so no geometry is parsed in Python; `ids` limits it to some rows.
    """
    table = AREA_TABLES[kind]
    where = ["TRUE"]
    params = [tolerance]
    if kind == "grid":
        where.append("valid_to IS NULL")
    if ids is not None:
        where.append("id = ANY(%s)")
        params.append(list(ids))
    sql = f"""
        SELECT json_build_object(
            'type', 'FeatureCollection',
            'bbox', (SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)]
                     FROM (SELECT ST_Extent(geom)::geometry AS e FROM {table} t
                           WHERE {" AND ".join(where)}) x),
            'features', COALESCE(json_agg(json_build_object(
                'type', 'Feature',
                'id', id,
                'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %s), 6)::json,
                'properties', json_build_object('id', id, 'code', code, 'name', name)
            ) ORDER BY code), '[]'::json)
        )
        FROM {table}
        WHERE {" AND ".join(where)}
    """
    # The bbox subquery repeats the filter, so its parameters come first.
    bbox_params = params[1:]
    with connection.cursor() as cursor:
        cursor.execute(sql, bbox_params + params)
        return cursor.fetchone()[0]


# --- bulk import and assignment -----------------------------------------------------------

# Point tables whose rows carry grid, community and street (layers.models.InGrid).
POINT_TABLES = (
    "layers_rentalhouse",
    "layers_person",
    "layers_organisation",
    "layers_compound",
    "cases_case",
)


def current_grid_wkb():
    """Return (id, community id, street id, WKB) of every current grid, by code.

    The order matters: bulk assignment breaks ties by this rank (smallest code first).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT g.id, g.community_id, c.street_id, ST_AsBinary(g.geom)
            FROM layers_grid g JOIN layers_community c ON c.id = g.community_id
            WHERE g.valid_to IS NULL
            ORDER BY g.code
            """
        )
        return cursor.fetchall()


def area_wkb(kind):
    """Return (id, parent id, WKB) of every community or street, by code."""
    parent = {"community": "street_id", "street": "district_id"}[kind]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {parent}, ST_AsBinary(geom) FROM {AREA_TABLES[kind]} ORDER BY code"
        )
        return cursor.fetchall()


def existing_ids(table, key_column, keys, chunk=100_000):
    """Return {natural key: id} for the keys that already exist (key column indexed)."""
    found = {}
    keys = list(keys)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), chunk):
            cursor.execute(
                f"SELECT {key_column}, id FROM {table} WHERE {key_column} = ANY(%s)",
                [keys[start : start + chunk]],
            )
            found.update(cursor.fetchall())
    return found


def create_stage(table, stage, columns):
    """Create an empty temporary table with some columns of a table, dropped at commit.

    Made with CREATE TABLE AS so that it has neither constraints nor indexes.
    """
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"
        )


def update_from_stage(table, stage, columns, compare):
    """Update rows of table from the staged rows with the same id; return how many changed.

    Only rows where one of `compare` differs are written, so a re-import of the same file
    changes nothing (not even updated_at).
    """
    skip = {"id", "created_at", "updated_at"}
    assignments = ", ".join(f'"{c}" = s."{c}"' for c in columns if c not in skip)
    left = ", ".join(f't."{c}"' for c in compare)
    right = ", ".join(f's."{c}"' for c in compare)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} t SET {assignments}, updated_at = now()
            FROM {stage} s
            WHERE t.id = s.id AND ROW({left}) IS DISTINCT FROM ROW({right})
            """
        )
        return cursor.rowcount


def reassign_points(changed_grid_ids, changed_area_wkb):
    """Re-assign the points affected by a redrawn grid layer; return rows changed per table.

    Affected points are those that pointed at a retired grid version or that lie in the
    area whose grids changed (old or new boundaries). Each gets the current grid that
    contains it, the smallest code on a shared boundary (as locate() below), or
    none; its community and street follow, from the community containing it when no grid
    does. Uses the GiST indexes on the point tables' location and on layers_grid.geom.
    """
    changed = {}
    with connection.cursor() as cursor:
        for table in POINT_TABLES:
            cursor.execute(
                f"""
                WITH affected AS (
                    SELECT p.id, p.location FROM {table} p
                    WHERE p.grid_id = ANY(%s)
                       OR ST_Intersects(p.location, ST_GeomFromWKB(%s, 4326))
                ), target AS (
                    SELECT a.id, g.id AS grid_id,
                           COALESCE(g.community_id, c.id) AS community_id,
                           COALESCE(gc.street_id, c.street_id, s.id) AS street_id
                    FROM affected a
                    LEFT JOIN LATERAL (
                        SELECT g.id, g.community_id FROM layers_grid g
                        WHERE g.valid_to IS NULL AND ST_Intersects(g.geom, a.location)
                        ORDER BY g.code LIMIT 1
                    ) g ON TRUE
                    LEFT JOIN layers_community gc ON gc.id = g.community_id
                    LEFT JOIN LATERAL (
                        SELECT c.id, c.street_id FROM layers_community c
                        WHERE g.id IS NULL AND ST_Intersects(c.geom, a.location)
                        ORDER BY c.code LIMIT 1
                    ) c ON TRUE
                    LEFT JOIN LATERAL (
                        SELECT s.id FROM layers_street s
                        WHERE g.id IS NULL AND c.id IS NULL AND ST_Intersects(s.geom, a.location)
                        ORDER BY s.code LIMIT 1
                    ) s ON TRUE
                )
                UPDATE {table} p
                SET grid_id = t.grid_id, community_id = t.community_id, street_id = t.street_id
                FROM target t
                WHERE p.id = t.id AND (p.grid_id, p.community_id, p.street_id)
                      IS DISTINCT FROM (t.grid_id, t.community_id, t.street_id)
                """,
                [list(changed_grid_ids), changed_area_wkb],
            )
            changed[table] = cursor.rowcount
    return changed


# --- grid topology ------------------------------------------------------------------------


def grid_overlaps(community_ids=None, min_area_m2=1.0):
    """Return overlaps between current grids: codes, area in m² and a point inside.

    Pairs are found through the GiST index on layers_grid.geom; areas are measured in
    settings.METRIC_SRID (EPSG:4543).
    """
    where, params = "", [min_area_m2]
    if community_ids is not None:
        where = "AND (a.community_id = ANY(%s) OR b.community_id = ANY(%s))"
        params = [list(community_ids), list(community_ids), min_area_m2]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a_code, b_code, area_m2, ST_X(p), ST_Y(p) FROM (
                SELECT a.code AS a_code, b.code AS b_code,
                       ST_Area(ST_Transform(i, {settings.METRIC_SRID})) AS area_m2,
                       ST_PointOnSurface(i) AS p
                FROM layers_grid a
                JOIN layers_grid b ON a.code < b.code AND ST_Intersects(a.geom, b.geom)
                CROSS JOIN LATERAL ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) i
                WHERE a.valid_to IS NULL AND b.valid_to IS NULL {where}
            ) x
            WHERE area_m2 >= %s
            ORDER BY area_m2 DESC
            """,
            params,
        )
        return [
            {"grids": (a, b), "area_m2": round(area, 1), "lon": round(x, 6), "lat": round(y, 6)}
            for a, b, area, x, y in cursor.fetchall()
        ]


def community_gaps(community_ids=None, min_area_m2=1.0):
    """Return the parts of communities that no current grid covers, with area and location."""
    where, params = "", [min_area_m2]
    if community_ids is not None:
        where = "WHERE c.id = ANY(%s)"
        params = [list(community_ids), min_area_m2]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT code, name, area_m2, ST_X(p), ST_Y(p) FROM (
                SELECT c.code, c.name,
                       ST_Area(ST_Transform(d.geom, {settings.METRIC_SRID})) AS area_m2,
                       ST_PointOnSurface(d.geom) AS p
                FROM layers_community c
                CROSS JOIN LATERAL (
                    SELECT ST_Union(g.geom) AS u FROM layers_grid g
                    WHERE g.community_id = c.id AND g.valid_to IS NULL
                ) covered
                CROSS JOIN LATERAL ST_Dump(
                    ST_CollectionExtract(ST_Difference(c.geom, COALESCE(covered.u,
                        'GEOMETRYCOLLECTION EMPTY'::geometry)), 3)
                ) d
                {where}
            ) x
            WHERE area_m2 >= %s
            ORDER BY area_m2 DESC
            """,
            params,
        )
        return [
            {
                "community": code,
                "name": name,
                "area_m2": round(area, 1),
                "lon": round(x, 6),
                "lat": round(y, 6),
            }
            for code, name, area, x, y in cursor.fetchall()
        ]


# --- locate -------------------------------------------------------------------------------


def locate(lon, lat):
    """Return the district, street, community and grid at a WGS84 point, and its workers.

    The usual case — a point inside a grid — is one short query, prepared once per
    connection (it runs on every locate call and every new case): the current grid
    containing the point, the smallest code on a shared boundary (as the bulk importer's
    AreaIndex; GiST index on layers_grid.geom), joined to its community,
    street, district and workers. Outside every grid, the
    community, street and district containing the point are looked up instead.
    """
    lon, lat = float(lon), float(lat)
    with connection.cursor() as cursor:
        # Prepared once per connection: planning this join took longer than running it.
        prepared.execute(cursor, "gridmap_locate", ("float8", "float8"), LOCATE_SQL, [lon, lat])
        row = cursor.fetchone()
        if row is not None:
            grid, community, street, district, workers = row
            return {
                "district": district,
                "street": street,
                "community": community,
                "grid": grid,
                "workers": workers,
            }
        found = {"grid": None, "workers": []}
        for level, table, more in (
            ("community", "layers_community", ", 'street_id', street_id"),
            ("street", "layers_street", ""),
            ("district", "layers_district", ""),
        ):
            prepared.execute(
                cursor,
                f"gridmap_locate_{level}",
                ("float8", "float8"),
                f"""
                SELECT json_build_object('id', id, 'code', code, 'name', name{more})
                FROM {table}
                WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
                ORDER BY code LIMIT 1
                """,
                [lon, lat],
            )
            hit = cursor.fetchone()
            found[level] = hit[0] if hit else None
        return found


LOCATE_SQL = """
    SELECT json_build_object('id', g.id, 'code', g.code, 'name', g.name, 'version', g.version),
           json_build_object('id', c.id, 'code', c.code, 'name', c.name),
           json_build_object('id', s.id, 'code', s.code, 'name', s.name),
           json_build_object('id', d.id, 'code', d.code, 'name', d.name),
           (SELECT COALESCE(json_agg(json_build_object(
                       'id', w.id, 'name', w.name, 'phone', w.phone) ORDER BY w.name), '[]')
            FROM layers_gridworker_grids wg
            JOIN layers_gridworker w ON w.id = wg.gridworker_id
            WHERE wg.grid_id = g.id)
    FROM layers_grid g
    JOIN layers_community c ON c.id = g.community_id
    JOIN layers_street s ON s.id = c.street_id
    JOIN layers_district d ON d.id = s.district_id
    WHERE g.valid_to IS NULL
      AND ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
    ORDER BY g.code
    LIMIT 1
"""


def table_rows_estimate(table):
    """Return the planner's estimate of a table's rows (cheap; no count)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass", [table]
        )
        return cursor.fetchone()[0]


def detach_secondary_indexes(table):
    """Drop a table's foreign keys and non-unique indexes; return what restore() needs.

    For a bulk load that adds a large share of a table, as PostgreSQL's "Populating a
    Database" advises: building an index once is far cheaper than a million inserts into
    it, and one validating join replaces a million foreign-key trigger checks. Unique
    indexes stay (they answer the upsert's key lookups). Runs inside the import's
    transaction, so a failure restores everything; the table is locked meanwhile. The app
    role owns no table: the owner's SECURITY DEFINER function layers_bulk_detach does the
    DDL, for the bulk-loaded tables only (layers migration 0005).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT layers_bulk_detach(%s::regclass)", [table])
    return table


def restore(detached):
    """Rebuild the indexes and foreign keys that detach_secondary_indexes() dropped."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT layers_bulk_restore(%s::regclass)", [detached])
