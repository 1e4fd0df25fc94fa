"""Raw SQL of the KPIs (cases/kpis.py): one aggregate with FILTER clauses, bound params only.

The cases to count come in as a compiled Django queryset (area scoping and filters stay in
the ORM), materialised once. Their events and callbacks are joined to that set and counted
per group, rather than probed by correlated subqueries per case: at 500,000 cases that is
seconds instead of minutes. `cases_caseevent` and `cases_callback` are reached through
their `case_id` indexes (nested loop) when the case set is small and by hash joins when it
is large.
"""

from django.db import connection, transaction

# Columns of the case set, in the order the queryset selects them (kpis.case_columns).
CASE_COLUMNS = (
    "id",
    "source",
    "visitors",
    "status",
    "deadline",
    "closed_at",
    "resolved_at",
    "resolved_level",
)

# The counts the query answers besides the group key.
COUNT_NAMES = (
    "intake",
    "petition_cases",
    "petition_visits",
    "closed",
    "due",
    "closed_on_time",
    "callbacks",
    "callbacks_satisfied",
    "resolved_once",
    "reworked",
    "escalated",
    "resolved",
    "resolved_community_level",
    "resolved_street_level",
    "resolved_at_grid",
    "resolved_at_community",
    "resolved_at_street",
    "resolved_at_district",
)

# Three aggregates over the materialised case set, each grouped by the key: the cases'
# own columns; their callbacks (joined, then counted per key — no per-case grouping);
# their reopen/escalate events (DISTINCT cases per key). The key is NULL for cases outside
# every area, hence the join on its text with NULL as ''.
_SQL = """
WITH c ({columns}) AS MATERIALIZED ({cases_sql}),
m AS (
    SELECT {key} AS k,
        count(*) AS intake,
        count(*) FILTER (WHERE c.source = %(petition)s) AS petition_cases,
        coalesce(sum(c.visitors) FILTER (WHERE c.source = %(petition)s), 0) AS petition_visits,
        count(*) FILTER (WHERE c.status = %(closed)s) AS closed,
        count(*) FILTER (WHERE c.status = %(closed)s OR c.deadline <= %(as_of)s) AS due,
        count(*) FILTER (
            WHERE c.status = %(closed)s AND (c.deadline IS NULL OR c.closed_at <= c.deadline)
        ) AS closed_on_time,
        count(*) FILTER (
            WHERE c.resolved_at IS NOT NULL OR c.status = ANY(%(resolved_statuses)s)
        ) AS resolved_before_rework,
        count(*) FILTER (WHERE c.resolved_level = ANY(%(levels)s)) AS resolved,
        count(*) FILTER (WHERE c.resolved_level = ANY(%(community_levels)s))
            AS resolved_community_level,
        count(*) FILTER (WHERE c.resolved_level = ANY(%(street_levels)s)) AS resolved_street_level,
        count(*) FILTER (WHERE c.resolved_level = 'grid') AS resolved_at_grid,
        count(*) FILTER (WHERE c.resolved_level = 'community') AS resolved_at_community,
        count(*) FILTER (WHERE c.resolved_level = 'street') AS resolved_at_street,
        count(*) FILTER (WHERE c.resolved_level = 'district') AS resolved_at_district
    FROM c GROUP BY 1
),
cb AS (
    SELECT {key} AS k,
           count(*) AS callbacks,
           count(*) FILTER (WHERE b.rating = ANY(%(satisfied)s)) AS callbacks_satisfied
    FROM cases_callback b JOIN c ON c.id = b.case_id
    GROUP BY 1
),
ev AS (
    SELECT {key} AS k,
        count(DISTINCT e.case_id) FILTER (WHERE e.action = %(reopen)s) AS reworked,
        count(DISTINCT e.case_id) FILTER (WHERE e.action = %(escalate)s) AS escalated,
        count(DISTINCT e.case_id) FILTER (
            WHERE e.action = %(reopen)s AND c.resolved_at IS NULL
                  AND NOT (c.status = ANY(%(resolved_statuses)s))
        ) AS reworked_unresolved
    FROM cases_caseevent e JOIN c ON c.id = e.case_id
    WHERE e.action IN (%(reopen)s, %(escalate)s)
    GROUP BY 1
)
SELECT m.k AS kpi_key, m.intake, m.petition_cases, m.petition_visits, m.closed, m.due,
    m.closed_on_time,
    coalesce(cb.callbacks, 0) AS callbacks,
    coalesce(cb.callbacks_satisfied, 0) AS callbacks_satisfied,
    m.resolved_before_rework + coalesce(ev.reworked_unresolved, 0) AS resolved_once,
    coalesce(ev.reworked, 0) AS reworked,
    coalesce(ev.escalated, 0) AS escalated,
    m.resolved, m.resolved_community_level, m.resolved_street_level,
    m.resolved_at_grid, m.resolved_at_community, m.resolved_at_street, m.resolved_at_district
FROM m
LEFT JOIN cb ON coalesce(cb.k::text, '') = coalesce(m.k::text, '')
LEFT JOIN ev ON coalesce(ev.k::text, '') = coalesce(m.k::text, '')
"""


def kpi_counts(cases_sql, cases_params, *, grouped, params):
    """Return one dict of counts per group (key in "kpi_key"), or one dict when not grouped.

    `cases_sql`/`cases_params` select CASE_COLUMNS (plus kpi_key last when grouped);
    `params` holds the named values of the aggregate (as_of, statuses, levels, ratings).
    """
    columns = ", ".join(CASE_COLUMNS + (("kpi_key",) if grouped else ()))
    with transaction.atomic(), connection.cursor() as cursor:
        # The plan is a few hash joins; JIT compiling it costs more than it saves (seconds
        # at city scale), so it is off for this transaction.
        cursor.execute("SET LOCAL jit = off")
        # psycopg2 binds parameters by quoting them into the statement on the client; do
        # that for the compiled queryset here, so that the aggregate's named parameters can
        # be bound around it (a literal % in it is escaped for the second binding).
        inner = cursor.mogrify(cases_sql, cases_params).decode().replace("%", "%%")
        sql = _SQL.format(columns=columns, cases_sql=inner, key="c.kpi_key" if grouped else "0")
        cursor.execute(sql, params)
        names = [col.name for col in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if grouped:
        return rows
    if not rows:  # no case at all: GROUP BY answers no row
        return {name: 0 for name in COUNT_NAMES}
    row = rows[0]
    del row["kpi_key"]
    return row
