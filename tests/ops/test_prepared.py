"""Statements prepared once per connection (gridmap/prepared.py)."""

import pytest
from django.db import connection, connections

from gridmap import prepared

pytestmark = pytest.mark.django_db


def run(db, value):
    with db.cursor() as cursor:
        prepared.execute(cursor, "gridmap_test_double", ("int",), "SELECT $1 * 2", [value])
        return cursor.fetchone()[0]


def server_side_statements(db):
    with db.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_prepared_once_per_connection_and_again_on_another():
    assert run(connection, 21) == 42
    assert "gridmap_test_double" in server_side_statements(connection)
    assert run(connection, 5) == 10  # EXECUTE only: a second PREPARE of the name would fail
    # Another connection (a new one after a database restart, say) prepares it for itself.
    other = connections.create_connection("default")
    try:
        assert "gridmap_test_double" not in server_side_statements(other)
        assert run(other, 4) == 8
        assert run(other, 6) == 12
    finally:
        other.close()


def test_a_statement_without_parameters():
    with connection.cursor() as cursor:
        prepared.execute(cursor, "gridmap_test_one", (), "SELECT 1", [])
        assert cursor.fetchone()[0] == 1


def test_a_statement_whose_result_type_changed_is_prepared_afresh():
    """A migration that changes a selected column's type must not break the connection."""
    from django.db import DatabaseError, transaction

    def lookup(code):
        with connection.cursor() as cursor:
            prepared.execute(
                cursor,
                "gridmap_test_typed",
                ("text",),
                "SELECT name FROM gridmap_test_kinds WHERE code = $1",
                [code],
            )
            return cursor.fetchone()

    # Its own table (gone with the test's transaction): the statements the app prepares
    # on this connection keep the result types of the real tables.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE gridmap_test_kinds (code text, name varchar(50))")
        cursor.execute("INSERT INTO gridmap_test_kinds VALUES ('wage', '劳资纠纷')")
    assert lookup("wage") == ("劳资纠纷",)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE gridmap_test_kinds ALTER COLUMN name TYPE varchar(60)")
    with pytest.raises(DatabaseError), transaction.atomic():
        lookup("wage")  # "cached plan must not change result type"
    with transaction.atomic():
        assert lookup("wage") == ("劳资纠纷",)
        assert lookup("none") is None
