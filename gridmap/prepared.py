"""Statements prepared once per database connection (PREPARE … then EXECUTE …).

PostgreSQL plans a query anew each time it arrives as text. For the short lookups that
run on every API call (the token, locate, the areas of a new case), planning took longer
than running them (locate: 0.33 ms to plan, 0.12 ms to run). psycopg2 never prepares a
statement itself, so these few are prepared by name on each connection the first time it
runs them; PostgreSQL then reuses the plan, re-planning by itself when a table changes.
A prepared statement lives as long as its connection, and a ROLLBACK does not undo it.
"""

from django.db import DatabaseError

# SQLSTATEs of a prepared statement that can no longer run as prepared.
FEATURE_NOT_SUPPORTED = "0A000"  # cached plan must not change result type
NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name


def execute(cursor, name, types, sql, params):
    """Run `sql` (placeholders $1, $2 …) on a Django cursor as the prepared statement `name`.

    `name` and `types` (PostgreSQL type names of the parameters) are trusted constants,
    never input; the parameters are bound by EXECUTE as usual.
    """
    db = cursor.db
    raw = db.connection
    state = getattr(db, "_gridmap_prepared", None)
    if state is None or state[0] is not raw:
        # A new connection (or the first use of this one): nothing is prepared on it yet.
        state = (raw, set(), set())
        db._gridmap_prepared = state
    ready, stale = state[1], state[2]
    if name not in ready:
        if name in stale:
            # It failed to run last time (see below): replace the server's copy.
            cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
            if cursor.fetchone():
                cursor.execute(f"DEALLOCATE {name}")
            stale.discard(name)
        arguments = f" ({', '.join(types)})" if types else ""
        cursor.execute(f"PREPARE {name}{arguments} AS {sql}")
        ready.add(name)
    try:
        if params:
            cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
        else:
            cursor.execute(f"EXECUTE {name}")
    except DatabaseError as exc:
        # A migration that changed a selected column's type ("cached plan must not change
        # result type"), or a statement gone from the server: prepare it afresh next time,
        # in the next transaction (this one is aborted), instead of failing for as long as
        # the connection lives.
        if getattr(exc.__cause__, "pgcode", None) in (FEATURE_NOT_SUPPORTED, NO_SUCH_STATEMENT):
            ready.discard(name)
            stale.add(name)
        raise


def columns(model, alias):
    """Return the SELECT list of all of a model's columns, in field order, for instance()."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def instance(model, values, db):
    """Return a model instance from the values of columns(model) as the ORM would build it.

    Each field's from_db_value converts its value (a JSON field's text, say) first.
    """
    fields = model._meta.concrete_fields
    values = [
        value
        if value is None or not hasattr(field, "from_db_value")
        else field.from_db_value(value, None, db)
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(db.alias, [f.attname for f in fields], values)
