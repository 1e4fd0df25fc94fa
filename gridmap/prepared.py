"""Statements prepared once per database connection (PREPARE … then EXECUTE …).

PostgreSQL plans a query anew each time it arrives as text. For the short lookups that
run on every API call (the token, locate, the areas of a new case), planning took longer
than running them (locate: 0.33 ms to plan, 0.12 ms to run). psycopg2 never prepares a
statement itself, so these few are prepared by name on each connection the first time it
runs them; PostgreSQL then reuses the plan, re-planning by itself when a table changes.
A prepared statement lives as long as its connection, and a ROLLBACK does not undo it.
"""


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
        state = (raw, set())
        db._gridmap_prepared = state
    if name not in state[1]:
        arguments = f" ({', '.join(types)})" if types else ""
        cursor.execute(f"PREPARE {name}{arguments} AS {sql}")
        state[1].add(name)
    if params:
        cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
    else:
        cursor.execute(f"EXECUTE {name}")
