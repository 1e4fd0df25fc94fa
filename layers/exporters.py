"""Export grids, rental houses, persons (masked) and cases within the user's area.

Formats: CSV (PostgreSQL COPY straight to a file), GeoJSON (features built in PostGIS,
streamed from a server-side cursor), GeoPackage (pyogrio, in chunks) and XLSX (openpyxl
write-only, in chunks). Personal data only ever leaves masked; rows are limited by
accounts.scoping.scope(). Every export goes to a temporary file that the response streams
and that disappears when closed.
"""

import os
import tempfile

from django.contrib.gis.db.models.functions import AsGeoJSON, AsWKB, AsWKT
from django.db import connection
from django.db.models import F, FloatField, Func, Value
from django.db.models.functions import Concat, Greatest, Left, Length, Repeat

from accounts.scoping import scope
from gridmap import spreadsheets
from layers.models import Grid, Person, RentalHouse

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "geojson": ("application/geo+json", "geojson"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}
LAYERS = ("grids", "rentals", "persons", "cases")
XLSX_MAX_ROWS = 1_048_575
CHUNK = 20_000


class X(Func):
    function = "ST_X"
    output_field = FloatField()


class Y(Func):
    function = "ST_Y"
    output_field = FloatField()


class ExportError(ValueError):
    pass


def _masked_name(field):
    return Concat(Left(field, 1), Repeat(Value("*"), Greatest(Length(field) - 1, Value(0))))


def _columns(layer):
    """Return (model, {output column: expression}, geometry field) of a layer."""
    from cases.models import Case

    area = {
        "grid_code": F("grid__code"),
        "community": F("community__name"),
        "street": F("street__name"),
    }
    if layer == "grids":
        return (
            Grid,
            {
                "code": F("code"),
                "name": F("name"),
                "community_code": F("community__code"),
                "community": F("community__name"),
                "street": F("community__street__name"),
                "version": F("version"),
            },
            "geom",
        )
    if layer == "rentals":
        return (
            RentalHouse,
            {
                "code": F("code"),
                "address": F("address"),
                "landlord": _masked_name("landlord_name"),
                "landlord_phone": F("landlord_phone_masked"),
                "rooms": F("rooms"),
                "tenants": F("tenant_count"),
                "overcrowded": F("overcrowded"),
                "three_in_one": F("three_in_one"),
                "fire_hazard": F("fire_hazard"),
                "last_inspected": F("last_inspected"),
                **area,
            },
            "location",
        )
    if layer == "persons":
        return (
            Person,
            {
                "name": _masked_name("name"),
                "id_number": F("id_number_masked"),
                "phone": F("phone_masked"),
                "kind": F("kind"),
                "address": F("address"),
                "origin": F("origin"),
                "arrival_date": F("arrival_date"),
                "residence_permit": F("residence_permit"),
                **area,
            },
            "location",
        )
    if layer == "cases":
        return (
            Case,
            {
                "number": F("number"),
                "source": F("source"),
                "category": F("category__name"),
                "status": F("status"),
                "level": F("level"),
                "urgency": F("urgency"),
                "title": F("title"),
                "address": F("address"),
                "reported_at": F("reported_at"),
                "deadline": F("deadline"),
                "closed_at": F("closed_at"),
                **area,
            },
            "location",
        )
    raise ExportError(f"未知的图层 {layer} / unknown layer {layer}")


def export_queryset(user, layer):
    """Return the scoped rows of a layer as a values() queryset with lon/lat or WKB."""
    model, columns, geom = _columns(layer)
    qs = model.objects.all()
    if model is Grid:
        qs = qs.filter(valid_to__isnull=True)
    qs = scope(user, qs).order_by("pk")
    if geom == "location":
        columns = {**columns, "lon": X(geom), "lat": Y(geom)}
    # Aliased on the way out (_sql): values() may not reuse a model field's name.
    return qs.values(**{f"x_{k}": v for k, v in columns.items()}), list(columns), geom


def _sql(qs):
    """Return the query's SQL with its parameters bound, its columns named without x_."""
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        inner = cursor.mogrify(sql, params).decode()
    names = [*qs.query.values_select, *qs.query.annotation_select]
    outer = ", ".join(f'q."{n}" AS "{n[2:]}"' if n.startswith("x_") else f'q."{n}"' for n in names)
    return f"SELECT {outer} FROM ({inner}) q"


def export(user, layer, fmt):
    """Write the export to a temporary file; return (open file, filename, content type, rows)."""
    if layer not in LAYERS:
        raise ExportError(f"未知的图层 {layer} / unknown layer {layer}")
    if fmt not in FORMATS:
        raise ExportError(
            f"不支持的格式 {fmt}（csv、geojson、gpkg、xlsx） / unsupported format {fmt}"
        )
    qs, names, geom = export_queryset(user, layer)
    rows = qs.count()
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        raise ExportError(
            f"{rows} 行超出 Excel 上限，请用 CSV / {rows} rows exceed Excel's limit; use CSV"
        )
    content_type, suffix = FORMATS[fmt]
    fd, path = tempfile.mkstemp(prefix=f"gridmap-{layer}-", suffix=f".{suffix}")
    os.close(fd)
    try:
        if fmt == "csv":
            _write_csv(qs, names, layer, path)
        elif fmt == "geojson":
            _write_geojson(qs, names, geom, path)
        elif fmt == "xlsx":
            _write_xlsx(qs, names, layer, path)
        else:
            os.unlink(path)
            _write_gpkg(qs, names, geom, layer, path)
        handle = open(path, "rb")  # noqa: SIM115 (closed by the response)
    finally:
        # The open handle keeps the data; the name goes at once.
        if os.path.exists(path):
            os.unlink(path)
    return handle, f"{layer}.{suffix}", content_type, rows


def _csv_select(qs):
    """Return SQL of the query with its text columns neutralised for spreadsheets."""
    query = qs.query
    names = [n.removeprefix("x_") for n in [*query.values_select, *query.annotation_select]]
    text = {
        name.removeprefix("x_")
        for name, expression in query.annotation_select.items()
        if expression.output_field.get_internal_type() in ("CharField", "TextField")
    }
    columns = ", ".join(
        f"{spreadsheets.sql_csv_text(f'e.{q}')} AS {q}" if name in text else f"e.{q}"
        for name, q in ((name, f'"{name}"') for name in names)
    )
    return f"SELECT {columns} FROM ({_sql(qs)}) e"


def _write_csv(qs, names, layer, path):
    if layer == "grids":
        # Polygons go out as WKT text.
        qs = qs.annotate(wkt=AsWKT("geom"))
    # Text that a spreadsheet would run as a formula gets a leading "'"; numbers stay.
    sql = f"COPY ({_csv_select(qs)}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    with open(path, "wb") as out, connection.cursor() as cursor:
        out.write("\ufeff".encode())  # Excel opens UTF-8 CSV with a BOM correctly
        cursor.copy_expert(sql, out)


def _write_geojson(qs, names, geom, path):
    select = _sql(qs.annotate(_geometry=AsGeoJSON(geom, precision=7)))
    props = ", ".join(f"'{n}', q.\"{n}\"" for n in names if n not in ("lon", "lat"))
    sql = f"""
        SELECT json_build_object('type', 'Feature', 'geometry', q._geometry::json,
                                 'properties', json_build_object({props}))::text
        FROM ({select}) q
    """
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"type": "FeatureCollection", "features": [\n')
        first = True
        with connection.cursor() as cursor:
            for chunk in _server_side(cursor, sql):
                for (feature,) in chunk:
                    if not first:
                        out.write(",\n")
                    out.write(feature)
                    first = False
        out.write("\n]}\n")


def _server_side(cursor, sql):
    """Yield lists of rows of a query from a server-side cursor (bounded memory)."""
    name = "gridmap_export"
    in_transaction = not connection.get_autocommit()
    if not in_transaction:
        cursor.execute("BEGIN")
    try:
        cursor.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}")
        while True:
            cursor.execute(f"FETCH {CHUNK} FROM {name}")
            rows = cursor.fetchall()
            if not rows:
                break
            yield rows
        cursor.execute(f"CLOSE {name}")
    finally:
        if not in_transaction:
            cursor.execute("COMMIT")


def _frames(qs, names, geom):
    import pandas as pd

    cols = [*names, "_wkb"]
    select = _sql(qs.annotate(_wkb=AsWKB(geom)))
    with connection.cursor() as cursor:
        for rows in _server_side(cursor, f"SELECT * FROM ({select}) q"):
            yield pd.DataFrame(rows, columns=cols)


def _write_gpkg(qs, names, geom, layer, path):
    import geopandas as gpd
    import pyogrio
    import shapely

    wrote = False
    for frame in _frames(qs, names, geom):
        geometry = shapely.from_wkb([bytes(v) for v in frame.pop("_wkb")])
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(_plain)
        gdf = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", append=wrote)
        wrote = True
    if not wrote:
        import geopandas as gpd

        empty = gpd.GeoDataFrame({n: [] for n in names}, geometry=[], crs="EPSG:4326")
        pyogrio.write_dataframe(empty, path, layer=layer, driver="GPKG")


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _write_xlsx(qs, names, layer, path):
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(layer)
    header = list(names) + (["wkt"] if layer == "grids" else [])
    sheet.append(header)
    if layer == "grids":
        qs = qs.annotate(wkt=AsWKT("geom"))
    select = _sql(qs)
    with connection.cursor() as cursor:
        for rows in _server_side(cursor, f"SELECT * FROM ({select}) q"):
            for row in rows:
                sheet.append(spreadsheets.xlsx_row(sheet, [_cell(v) for v in row]))
    book.save(path)


def _cell(value):
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


__all__ = ["FORMATS", "LAYERS", "ExportError", "export", "export_queryset"]
