"""Raw SQL of the cases app, with bound parameters only."""

from functools import cache

from django.db import connection

from gridmap import prepared


def next_case_id():
    """Return a fresh primary key for cases_case (its number is built from it)."""
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            "gridmap_next_case_id",
            (),
            "SELECT nextval(pg_get_serial_sequence('cases_case', 'id'))",
            [],
        )
        return cursor.fetchone()[0]


def idempotency_owner(key):
    """Return (case id, created_by id) of the case registered with an Idempotency-Key, or None.

    Asked on every intake that carries a key, nearly always for a new key: one indexed
    lookup of two columns, without building a whole case.
    """
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            "gridmap_idempotency_owner",
            ("text",),
            "SELECT id, created_by_id FROM cases_case WHERE idempotency_key = $1",
            [key],
        )
        return cursor.fetchone()


def nearby_open_cases(*, category_id, lon, lat, radius_m, since, statuses, exclude_id=None):
    """Return [(case id, distance in metres)] of open cases of a category near a point.

    ST_DWithin on geography measures metres on the spheroid; it uses the expression
    GiST index cases_case_location_geog (migration cases 0002).
    """
    query = """
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography AS g)
        SELECT c.id, ST_Distance(c.location::geography, p.g) AS d
        FROM cases_case c, p
        WHERE ST_DWithin(c.location::geography, p.g, %s)
          AND c.category_id = %s
          AND c.status = ANY(%s)
          AND c.reported_at >= %s
          AND (%s::bigint IS NULL OR c.id <> %s::bigint)
        ORDER BY d
        LIMIT 50
    """
    params = [lon, lat, radius_m, category_id, statuses, since, exclude_id, exclude_id]
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def claim_reminder(*, case_id, kind, deadline, now, unit_name="", number=""):
    """Claim the (case, kind, deadline) reminder; return its id, or None if already claimed.

    INSERT … ON CONFLICT DO NOTHING on the unique constraint reminder_once_per_deadline:
    of two job runs (or two machines) exactly one gets the row, the other gets None (it
    waits for the first transaction and then finds the conflict).
    """
    query = """
        INSERT INTO cases_reminder (case_id, kind, deadline, created_at, unit_name, number, pdf)
        VALUES (%s, %s, %s, %s, %s, %s, '')
        ON CONFLICT ON CONSTRAINT reminder_once_per_deadline DO NOTHING
        RETURNING id
    """
    with connection.cursor() as cursor:
        cursor.execute(query, [case_id, kind, deadline, now, unit_name, number])
        row = cursor.fetchone()
        return row[0] if row else None


def time_limit(category_id, urgency):
    """Return (amount, unit) of a category's time limit for an urgency, or None.

    Read on every intake (its deadline): prepared once per connection.
    """
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            "gridmap_time_limit",
            ("bigint", "text"),
            "SELECT amount, unit FROM cases_timelimit WHERE category_id = $1 AND urgency = $2 "
            "ORDER BY id LIMIT 1",
            [category_id, urgency],
        )
        return cursor.fetchone()


def calendar_days():
    """Return [(day, kind)] of the working-day calendar (holidays and make-up days)."""
    with connection.cursor() as cursor:
        prepared.execute(
            cursor, "gridmap_calendar_days", (), "SELECT day, kind FROM cases_workcalendarday", []
        )
        return cursor.fetchall()


@cache
def _category_query():
    from cases.models import Category

    return (
        f"SELECT {prepared.columns(Category, 'c')} FROM cases_category c "
        "WHERE c.code = $1 AND c.active"
    )


def active_category(code):
    """Return the active Category with this code, or None (asked by every intake)."""
    from cases.models import Category

    with connection.cursor() as cursor:
        prepared.execute(cursor, "gridmap_active_category", ("text",), _category_query(), [code])
        row = cursor.fetchone()
    return None if row is None else prepared.instance(Category, row, connection)
