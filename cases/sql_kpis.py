"""Raw SQL of the KPIs (cases/kpis.py): one aggregate with FILTER clauses, bound params only.

The cases to count come in as a compiled Django queryset (area scoping and filters stay in
the ORM). Their events and callbacks are aggregated once per case in CTEs and joined,
rather than probed by correlated subqueries per case: at 500,000 cases that is seconds
instead of minutes. `cases_caseevent` and `cases_callback` are reached through their
`case_id` indexes when the case set is small and by one hash join when it is large.
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

_SQL = """
WITH c ({columns}) AS MATERIALIZED ({cases_sql}),
ev AS (
    SELECT e.case_id,
           bool_or(e.action = %(reopen)s) AS reworked,
           bool_or(e.action = %(escalate)s) AS escalated
    FROM cases_caseevent e
    JOIN c ON c.id = e.case_id
    WHERE e.action IN (%(reopen)s, %(escalate)s)
    GROUP BY e.case_id
),
cb AS (
    SELECT b.case_id,
           count(*) AS n,
           count(*) FILTER (WHERE b.rating = ANY(%(satisfied)s)) AS ok
    FROM cases_callback b
    JOIN c ON c.id = b.case_id
    GROUP BY b.case_id
)
SELECT {key}
    count(*) AS intake,
    count(*) FILTER (WHERE c.source = %(petition)s) AS petition_cases,
    coalesce(sum(c.visitors) FILTER (WHERE c.source = %(petition)s), 0) AS petition_visits,
    count(*) FILTER (WHERE c.status = %(closed)s) AS closed,
    count(*) FILTER (WHERE c.status = %(closed)s OR c.deadline <= %(as_of)s) AS due,
    count(*) FILTER (
        WHERE c.status = %(closed)s AND (c.deadline IS NULL OR c.closed_at <= c.deadline)
    ) AS closed_on_time,
    coalesce(sum(cb.n), 0) AS callbacks,
    coalesce(sum(cb.ok), 0) AS callbacks_satisfied,
    count(*) FILTER (
        WHERE c.resolved_at IS NOT NULL OR c.status = ANY(%(resolved_statuses)s)
              OR coalesce(ev.reworked, false)
    ) AS resolved_once,
    count(*) FILTER (WHERE ev.reworked) AS reworked,
    count(*) FILTER (WHERE ev.escalated) AS escalated,
    count(*) FILTER (WHERE c.resolved_level = ANY(%(levels)s)) AS resolved,
    count(*) FILTER (WHERE c.resolved_level = ANY(%(community_levels)s))
        AS resolved_community_level,
    count(*) FILTER (WHERE c.resolved_level = ANY(%(street_levels)s)) AS resolved_street_level,
    count(*) FILTER (WHERE c.resolved_level = 'grid') AS resolved_at_grid,
    count(*) FILTER (WHERE c.resolved_level = 'community') AS resolved_at_community,
    count(*) FILTER (WHERE c.resolved_level = 'street') AS resolved_at_street,
    count(*) FILTER (WHERE c.resolved_level = 'district') AS resolved_at_district
FROM c
LEFT JOIN ev ON ev.case_id = c.id
LEFT JOIN cb ON cb.case_id = c.id
{group_by}
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
        sql = _SQL.format(
            columns=columns,
            cases_sql=inner,
            key="c.kpi_key," if grouped else "",
            group_by="GROUP BY c.kpi_key" if grouped else "",
        )
        cursor.execute(sql, params)
        names = [col.name for col in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if grouped:
        return rows
    return rows[0]
