"""
Benchmark the KPI queries (cases/kpis.py) on the city-scale district (500,000 cases).

Run from the repository root:

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_kpis.py [--repeats 5]

It uses the database `gridmap_bench` in the project-local cluster (or BENCH_DATABASE_URL),
creating it and generating the city district there when it is missing or empty (a few
minutes, once). Each step is timed several times; the median is printed side by side with
a baseline (the obvious ORM way: correlated subqueries per case, or one query per area) as
a Markdown table.
Baselines that would take minutes run on a subset of areas and are extrapolated linearly;
the table says so.
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdb  # noqa: E402

benchdb.setup()


from benchdb import median_time  # noqa: E402


def orm_subquery_totals(user, query):
    """Compute the totals the obvious ORM way: correlated subqueries per case."""
    from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
    from django.db.models.functions import Coalesce

    from cases import kpis
    from cases.models import Callback, CaseEvent, Level, Source, Status

    closed = Q(status=Status.CLOSED)
    reworked = Exists(CaseEvent.objects.filter(case=OuterRef("pk"), action="reopen"))
    escalated = Exists(CaseEvent.objects.filter(case=OuterRef("pk"), action="escalate"))
    callbacks = Callback.objects.filter(case=OuterRef("pk")).order_by().values("case")
    n_callbacks = Subquery(callbacks.annotate(n=Count("pk")).values("n"))
    n_satisfied = Subquery(
        callbacks.filter(rating__in=kpis.SATISFIED_RATINGS).annotate(n=Count("pk")).values("n")
    )
    return kpis.filtered_cases(user, query).aggregate(
        intake=Count("pk"),
        petition_cases=Count("pk", filter=Q(source=Source.PETITION)),
        petition_visits=Coalesce(Sum("visitors", filter=Q(source=Source.PETITION)), 0),
        closed=Count("pk", filter=closed),
        due=Count("pk", filter=closed | Q(deadline__lte=query.as_of())),
        closed_on_time=Count(
            "pk", filter=closed & (Q(deadline__isnull=True) | Q(closed_at__lte=F("deadline")))
        ),
        callbacks=Coalesce(Sum(n_callbacks), 0),
        callbacks_satisfied=Coalesce(Sum(n_satisfied), 0),
        resolved_once=Count(
            "pk",
            filter=Q(resolved_at__isnull=False) | Q(status__in=kpis.RESOLVED_STATUSES) | reworked,
        ),
        reworked=Count("pk", filter=reworked),
        escalated=Count("pk", filter=escalated),
        resolved=Count("pk", filter=Q(resolved_level__in=Level.values)),
        resolved_community_level=Count("pk", filter=Q(resolved_level__in=kpis.COMMUNITY_LEVELS)),
        resolved_street_level=Count("pk", filter=Q(resolved_level__in=kpis.STREET_LEVELS)),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--subset", type=int, default=10, help="areas for per-area baselines")
    args = parser.parse_args()
    repeats = args.repeats
    slow = max(1, min(3, repeats))
    benchdb.ensure_city_district()

    from accounts.models import Role, User
    from cases import kpis
    from cases.models import Case
    from layers.models import Community, District, Grid

    district = District.objects.order_by("code").first()
    user = User(username="bench", role=Role.DISTRICT, district=district, is_active=True)
    everything = kpis.parse_query({})
    n_cases = Case.objects.count()
    n_comm = Community.objects.count()
    n_grids = Grid.objects.current().count()
    rows = []

    # 1. Totals over the whole district.
    ours, totals = median_time(lambda: kpis.kpi_totals(user, everything), repeats)
    base, naive = median_time(lambda: orm_subquery_totals(user, everything), 1)
    assert all(totals[k] == v for k, v in naive.items()), (totals, naive)
    rows.append(
        (
            f"all KPIs, whole district ({n_cases:,} cases)",
            ours,
            "ORM aggregate with correlated subqueries per case (callbacks, events)",
            base,
            "baseline run once",
        )
    )

    # 2. and 3. One row per community / per grid.
    for by, plural, model_count, codes in (
        ("community", "communities", n_comm, Community.objects.values_list("code", flat=True)),
        ("grid", "grids", n_grids, Grid.objects.current().values_list("code", flat=True)),
    ):
        ours, out = median_time(lambda by=by: kpis.kpi_breakdown(user, everything, by), repeats)
        subset = list(codes.order_by("code")[: args.subset])

        def per_area(subset=subset, by=by):
            return [kpis.kpi_totals(user, kpis.parse_query({by: code})) for code in subset]

        base, _ = median_time(per_area, slow)
        scale = model_count / max(len(subset), 1)
        rows.append(
            (
                f"all KPIs by {by} ({model_count:,} {plural}, {len(out):,} rows)",
                ours,
                f"one aggregate query per {by}",
                base * scale,
                f"baseline timed on {len(subset)} {plural}, extrapolated ×{scale:.0f}",
            )
        )

    # 4. A filtered figure, as the API answers it.
    query = kpis.parse_query({"source": "hotline_12345", "by": "month"})
    ours, _ = median_time(lambda: kpis.kpi_report(user, query), repeats)
    base, _ = median_time(lambda: orm_subquery_totals(user, query), 1)
    rows.append(
        (
            "API `?source=hotline_12345&by=month` (totals + monthly rows, one query)",
            ours,
            "ORM correlated-subquery totals only (no rows)",
            base,
            "baseline run once",
        )
    )

    load = os.getloadavg()[0]
    print(f"\nKPI queries, median of {repeats} runs (per-area baselines: {slow}); ", end="")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f}\n")
    print("| step | ours (s) | baseline | baseline (s) | ratio | note |")
    print("|---|---:|---|---:|---:|---|")
    for name, ours, base_name, base, note in rows:
        print(f"| {name} | {ours:.3f} | {base_name} | {base:.3f} | {base / ours:.1f}× | {note} |")


if __name__ == "__main__":
    main()
