"""Raw SQL of the layers app, with bound parameters only."""

from django.db import connection

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
