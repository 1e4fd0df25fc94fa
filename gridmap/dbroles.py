"""The database roles: the owner runs migrations, the app role serves requests.

The app connects as a role that is not a superuser and owns nothing (settings.DATABASE_APP):
it reads and writes rows, and may only INSERT and SELECT the audit log, so neither
``ALTER TABLE … DISABLE TRIGGER`` nor ``SET session_replication_role`` nor an UPDATE can
undo the log's append-only rule. The owner (settings.DATABASE_OWNER) creates and alters
the schema: ``manage.py prepare`` migrates as the owner and then grants the app role its
rights (``grant_app_role``). Without DATABASE_OWNER_URL both are the same role.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import connections

# The audit log: the app may add and read entries, nothing else.
APPEND_ONLY_TABLES = ("accounts_auditentry",)
# Tables only the owner touches (the bulk loader's bookkeeping, layers migration 0005).
OWNER_ONLY_TABLES = ("layers_detachedindex",)
# SECURITY DEFINER functions the app may call (layers migration 0005).
APP_FUNCTIONS = ("layers_bulk_detach(regclass)", "layers_bulk_restore(regclass)")

CREDENTIALS = ("USER", "PASSWORD")


def app_role():
    """Return the name of the role the app connects as."""
    return settings.DATABASE_APP["USER"]


def owner_role():
    return settings.DATABASE_OWNER["USER"]


def separate_roles():
    """Return True when the app and the owner are different roles."""
    return app_role() != owner_role()


@contextmanager
def as_owner(alias="default"):
    """Run the block with the alias connected as the schema owner (no-op if it is already).

    Switches the connection's credentials, closing the connection on the way in and out;
    inside a transaction it cannot, and the block runs as whoever is connected (a test's
    transaction, say). Threads that connect meanwhile use the owner too (they share the
    settings dict), which is what set-up code wants.
    """
    connection = connections[alias]
    current = {key: connection.settings_dict.get(key) for key in CREDENTIALS}
    owner = {key: settings.DATABASE_OWNER.get(key) for key in CREDENTIALS}
    if current == owner or connection.in_atomic_block:
        yield
        return
    connection.close()
    connection.settings_dict.update(owner)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(current)


def use_app_role(alias="default"):
    """Connect the alias as the app role from now on (the test suite, after its set-up)."""
    connection = connections[alias]
    connection.close()
    connection.settings_dict.update({key: settings.DATABASE_APP.get(key) for key in CREDENTIALS})


def grant_app_role(cursor, role):
    """Give the app role what it needs on the owner's schema, and nothing more.

    Idempotent; run after every migration (tables made later get the same rights through
    the default privileges, but the audit table's limits are restated here each time).
    """
    role_sql = cursor.db.ops.quote_name(role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role_sql}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role_sql}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role_sql}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role_sql}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role_sql}",
    ]
    for table in APPEND_ONLY_TABLES:
        statements += [
            f"REVOKE ALL ON {table} FROM {role_sql}",
            f"GRANT SELECT, INSERT ON {table} TO {role_sql}",
        ]
    for table in OWNER_ONLY_TABLES:
        statements.append(f"REVOKE ALL ON {table} FROM {role_sql}")
    for function in APP_FUNCTIONS:
        statements += [
            f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC",
            f"GRANT EXECUTE ON FUNCTION {function} TO {role_sql}",
        ]
    for statement in statements:
        cursor.execute(statement)


def role_report(cursor):
    """Return (is superuser, number of relations owned) of the connected role."""
    cursor.execute(
        """
        SELECT r.rolsuper,
               (SELECT count(*) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relowner = r.oid AND n.nspname = 'public')
        FROM pg_roles r WHERE r.rolname = current_user
        """
    )
    return cursor.fetchone()
