"""
Benchmark the intake's duplicate check and the time-limit job on the city-scale district.

Run from the repository root (it uses, and if needed builds, the gridmap_bench database:
10,000 grids, 500,000 cases):

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_cases.py

Rows, each the median of --repeats runs, target side by side with its baseline:

- duplicate check (open cases of a category within 100 m, last 30 days): ST_DWithin on
  geography with the expression GiST index cases_case_location_geog vs the same filter
  written as ST_Distance(…) < 100, which no index can serve;
- the time-limit job's scan of running cases with their due moments (every pass does it).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdb  # noqa: E402

benchdb.setup()

from benchdb import median_time  # noqa: E402
from django.db import connection  # noqa: E402

BASELINE = """
    SELECT c.id FROM cases_case c
    WHERE ST_Distance(c.location::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) < %s
      AND c.category_id = %s AND c.status = ANY(%s) AND c.reported_at >= %s
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    benchdb.ensure_city_district()
    from datetime import timedelta

    from django.utils import timezone

    from cases import jobs, sql
    from cases.models import OPEN_STATUSES, Case

    case = Case.objects.filter(status__in=OPEN_STATUSES).order_by("-reported_at").first()
    lon, lat = case.location.x, case.location.y
    since = timezone.now() - timedelta(days=30)
    statuses = list(OPEN_STATUSES)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")

    def target():
        return sql.nearby_open_cases(
            category_id=case.category_id,
            lon=lon,
            lat=lat,
            radius_m=100,
            since=since,
            statuses=statuses,
        )

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(BASELINE, [lon, lat, 100, case.category_id, statuses, since])
            return cursor.fetchall()

    assert {r[0] for r in target()} == {r[0] for r in baseline()}
    t_dup, _ = median_time(target, args.repeats)
    b_dup, _ = median_time(baseline, max(1, min(3, args.repeats)))
    t_job, _ = median_time(
        lambda: sum(1 for _ in jobs.candidates().iterator(chunk_size=2000)),
        max(1, min(3, args.repeats)),
    )
    n = Case.objects.count()
    print(f"\n### cases: duplicate check and time-limit job ({n:,} cases)\n")
    print("| measure | target (s) | baseline (s) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| duplicate check, 100 m / 30 days | {t_dup:.4f} (geography GiST) | "
        f"{b_dup:.4f} (ST_Distance, no index) | {b_dup / t_dup:.0f}× |"
    )
    print(f"| time-limit job, scan of running cases | {t_job:.3f} | – | – |")


if __name__ == "__main__":
    main()
