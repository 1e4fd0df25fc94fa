"""Bulk writes with PostgreSQL COPY, shared by the demo generator and the importers."""

import io

import numpy as np
import pyarrow as pa
from django.db import connection
from pyarrow import csv as pa_csv

# The NULL marker of every COPY below; it cannot clash with a real value because CSV
# quoting would show a literal backslash-N as "\N" inside quotes.
NULL = "\\N"
# Bytes handed to the server per read: large blocks keep the Python side of a COPY to a
# few calls (psycopg2's default is 8 KiB).
COPY_BLOCK = 4 * 1024 * 1024


def copy_frame(table, frame, *, cursor=None):
    """COPY a DataFrame into a table (columns named as in the frame).

    `table` is interpolated, so it must be a trusted name (a model's db_table), never input.
    The CSV text comes from pyarrow's writer (C++, ~5x faster than DataFrame.to_csv on
    a million persons): every value quoted, so that an unquoted empty field can only be
    NULL, and an empty string stays one. A frame that pyarrow cannot type (a column of
    mixed Python objects) is written by pandas instead.
    """
    try:
        table_ = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, na_rep=NULL)
        buf.seek(0)
        copy_csv(table, list(frame.columns), buf, cursor=cursor)
        return
    out = pa.BufferOutputStream()
    pa_csv.write_csv(table_, out, write_options=_ARROW_CSV)
    buf = io.BytesIO(out.getvalue().to_pybytes())
    copy_csv(table, list(frame.columns), buf, cursor=cursor, null="")


_ARROW_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


def copy_csv(table, columns, buf, *, cursor=None, null=NULL):
    """COPY CSV text (a file-like object, no header) into the columns of a table.

    `null` is the unquoted text that stands for NULL (by default a backslash-N).
    """
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '{null}')"
    if cursor is not None:
        cursor.copy_expert(sql, buf, size=COPY_BLOCK)
        return
    with connection.cursor() as own:
        own.copy_expert(sql, buf, size=COPY_BLOCK)


def reserve_ids(table, n, *, cursor=None):
    """Return n fresh primary keys for table, taken from its sequence in one call."""
    sql = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
    if cursor is not None:
        cursor.execute(sql, [table, n])
        rows = cursor.fetchall()
    else:
        with connection.cursor() as own:
            own.execute(sql, [table, n])
            rows = own.fetchall()
    return np.array([row[0] for row in rows], dtype=np.int64)


def bytea_hex(values):
    """Return bytes values in the text form COPY reads for bytea (None stays None)."""
    return [None if v is None else "\\x" + v.hex() for v in values]
