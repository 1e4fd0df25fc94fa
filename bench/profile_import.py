"""Where the city import spends its time: wall time of each part, one run.

Run from the repository root, after bench/bench_import.py has written its files and
created the city database (`gridmap_bench`):

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/profile_import.py

Imports var/bench/rentals_*.csv and var/bench/persons_*.csv with layers.importers in one
transaction that is rolled back, with timers around the parts (preparation runs in a
helper thread, so the parts overlap and do not add up to the total). Not run by
`make bench` (its name does not start with bench_).
"""

import collections
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdb  # noqa: E402

SECONDS = collections.defaultdict(float)
CALLS = collections.Counter()
_lock = threading.Lock()


def timed(owner, name, label=None):
    function = getattr(owner, name)
    label = label or name

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            with _lock:
                SECONDS[label] += time.perf_counter() - start
                CALLS[label] += 1

    setattr(owner, name, wrapper)


class _Rollback(Exception):
    pass


def main():
    benchdb.setup()
    from django.db import transaction

    import gridmap.copy
    from layers import sql
    from layers.importers import points, run_import

    for name in ("existing_ids", "restore", "detach_secondary_indexes", "update_from_stage"):
        timed(sql, name)
    timed(gridmap.copy, "copy_csv", "COPY (server)")
    timed(points, "copy_frame", "copy_frame (CSV text + COPY)")
    for layer in (points.PersonLayer, points.RentalLayer):
        timed(layer, "prepare", f"prepare {layer.kind}")
        timed(layer, "write", f"write {layer.kind}")
    folder = benchdb.ROOT / "var" / "bench"
    start = time.perf_counter()
    try:
        with transaction.atomic():
            for kind in ("rentals", "persons"):
                path = sorted(folder.glob(f"{kind}_*.csv"))[-1]
                report = run_import(kind, str(path))
                print(f"{kind}: {report.counts}")
            raise _Rollback
    except _Rollback:
        pass
    print(f"\ntotal {time.perf_counter() - start:.1f} s\n")
    print("| part | seconds | calls |\n|---|---:|---:|")
    for label, seconds in sorted(SECONDS.items(), key=lambda item: -item[1]):
        print(f"| {label} | {seconds:.1f} | {CALLS[label]} |")


if __name__ == "__main__":
    main()
