"""The app's database role: no superuser, owns nothing, can only add to the audit log.

The suite runs as the app role (tests/conftest.py switches to it after the owner has set
the test database up), as `make run` serves: these tests attack the audit log through the
app's own connection, as SQL injection or code running in the app process would.
"""

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from accounts.models import AuditEntry
from gridmap import dbroles
from layers import sql as layers_sql

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not dbroles.separate_roles(),
        reason="DATABASE_URL and DATABASE_OWNER_URL name one role (a single-role deployment)",
    ),
]


def _refused(statement, params=None):
    """Run a statement in a savepoint; return the database's error message, or None."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    except DatabaseError as exc:
        return str(exc)
    return None


@pytest.fixture
def entry(db):
    return AuditEntry.objects.create(action="reveal", reason="核实身份")


def test_the_suite_runs_as_the_app_role_which_is_no_superuser_and_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == settings.DATABASE_APP["USER"]
        assert dbroles.role_report(cursor) == (False, 0)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE accounts_auditentry DISABLE TRIGGER ALL",
        "ALTER TABLE accounts_auditentry DISABLE TRIGGER accounts_auditentry_no_update_delete",
        "DROP TRIGGER accounts_auditentry_no_update_delete ON accounts_auditentry",
        "SET session_replication_role = replica",
        "DROP TABLE accounts_auditentry",
        "CREATE OR REPLACE FUNCTION accounts_auditentry_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    ],
)
def test_the_app_role_cannot_switch_off_the_audit_logs_append_only_rule(statement):
    assert _refused(statement) is not None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE accounts_auditentry SET reason = 'x' WHERE id = %s",
        "DELETE FROM accounts_auditentry WHERE id = %s",
        "TRUNCATE accounts_auditentry",
    ],
)
def test_the_app_role_may_not_change_or_delete_audit_entries_even_before_the_trigger(
    entry, statement
):
    error = _refused(statement, [entry.pk] if "%s" in statement else None)
    # Refused by the grants (no privilege), not only by the trigger (append-only).
    assert error is not None and "permission denied" in error
    assert AuditEntry.objects.filter(pk=entry.pk, reason="核实身份").exists()


def test_the_app_role_may_add_and_read_audit_entries(entry):
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE gridmap_intruder (id int)",
        "ALTER TABLE layers_person ADD COLUMN intruder int",
        "CREATE ROLE intruder SUPERUSER",
        "INSERT INTO layers_detachedindex VALUES ('layers_person', 1, 'DROP TABLE x')",
    ],
)
def test_the_app_role_runs_no_ddl_and_cannot_feed_the_bulk_loaders_bookkeeping(statement):
    assert _refused(statement) is not None


def test_the_bulk_loader_detaches_and_restores_indexes_of_bulk_tables_only():
    def indexes(table):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", [table])
            return cursor.fetchone()[0]

    before = indexes("layers_person")
    with transaction.atomic():
        detached = layers_sql.detach_secondary_indexes("layers_person")
        assert indexes("layers_person") < before
        layers_sql.restore(detached)
        assert indexes("layers_person") == before
    for table in ("accounts_auditentry", "accounts_user", "cases_caseevent"):
        error = _refused("SELECT layers_bulk_detach(%s::regclass)", [table])
        assert error is not None and "bulk load not allowed" in error


def test_the_app_role_cannot_grant_itself_rights_on_the_audit_log():
    with connection.cursor() as cursor:
        # PostgreSQL only warns ("no privileges were granted"): the app holds no grant option.
        cursor.execute("GRANT UPDATE, DELETE, TRUNCATE ON accounts_auditentry TO PUBLIC")
        cursor.execute(
            "SELECT has_table_privilege('accounts_auditentry', 'UPDATE'),"
            " has_table_privilege('accounts_auditentry', 'DELETE'),"
            " has_table_privilege('accounts_auditentry', 'TRUNCATE')"
        )
        assert cursor.fetchone() == (False, False, False)
