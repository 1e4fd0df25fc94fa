"""What the benchmarks share: the city-scale database and a median timer.

`setup()` points Django at the `gridmap_bench` database in the project-local cluster (or
BENCH_DATABASE_URL) and starts it; `ensure_city_district()` creates that database and
generates the city district there when it is missing or empty (a few minutes, once).
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_url():
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    port_file = ROOT / "var" / "pg" / "port"
    port = port_file.read_text().strip() if port_file.exists() else "55432"
    return f"postgis://gridmap@127.0.0.1:{port}/gridmap_bench"


def setup():
    """Point Django at the bench database and set it up."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = bench_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")
    import django

    django.setup()


def ensure_city_district():
    """Create the bench database and generate the city district in it if needed."""
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.utils import OperationalError

    name = connection.settings_dict["NAME"]
    try:
        connection.ensure_connection()
    except OperationalError:
        print(f"creating database {name} …", file=sys.stderr)
        with connections["default"]._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
    call_command("migrate", verbosity=0)
    from cases.models import Case

    if not Case.objects.exists():
        print("generating the city district (a few minutes) …", file=sys.stderr)
        call_command("generate_district", scale="city", replace=True, verbosity=0)


def median_time(function, repeats):
    """Return the median wall time of `repeats` calls and the last call's result."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result
