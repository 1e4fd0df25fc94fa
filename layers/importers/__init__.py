"""Import files into the layers: areas, grids, rental houses, persons and cases.

`run_import(kind, path, ...)` is the one entry point, used by `manage.py import_data` and
by the upload page (through an ImportJob). It returns an ImportReport; the import is all
or nothing unless partial=True, and a dry run checks everything and writes nothing.
"""

import time
from pathlib import Path

import numpy as np
from django.db import DatabaseError, IntegrityError, transaction

from layers.importers import columns as cols
from layers.importers.files import check_size, read_table, sniff
from layers.importers.report import ImportFailed, ImportReport

KINDS = ("areas", "grids", "rentals", "persons", "cases")
CHUNK_ROWS = 100_000


class _Rollback(Exception):
    pass


def count_rows(path):
    """Return the number of data rows of a CSV quickly (a progress estimate)."""
    if Path(path).suffix.lower() not in (".csv", ".txt"):
        return 0
    lines = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def run_import(kind, path, *, crs="wgs84", partial=False, dry_run=False, progress=None, **options):
    """Import a file; return its ImportReport (raises nothing for bad input)."""
    report = ImportReport()
    report.partial_ok = partial
    started = time.perf_counter()
    try:
        if kind not in KINDS:
            raise ImportFailed(f"未知的导入类型 {kind} / unknown import kind {kind}")
        check_size(path)
        from layers.crs import CRSError, parse_crs

        try:
            crs_name = parse_crs(crs) if crs else None
        except CRSError as exc:
            raise ImportFailed(str(exc)) from None
        try:
            with transaction.atomic():
                if kind in ("areas", "grids"):
                    if sniff(path) != "features":
                        raise ImportFailed(
                            "区域和网格请用 GeoJSON、zip 压缩的 Shapefile 或 GeoPackage / "
                            "areas and grids come as GeoJSON, zipped Shapefile or GeoPackage"
                        )
                    from layers.importers import areas

                    areas.run(kind, path, crs=crs_name, report=report, progress=progress, **options)
                else:
                    if sniff(path) != "table":
                        raise ImportFailed(
                            "出租房屋、人口和案件请用 CSV 或 XLSX / "
                            "rentals, persons and cases come as CSV or XLSX"
                        )
                    _run_points(
                        kind, path, crs_name or "wgs84", report, progress, options.get("bulk")
                    )
                if dry_run or (report.error_count and not partial):
                    raise _Rollback
                report.committed = True
        except _Rollback:
            report.committed = False
        except IntegrityError as exc:
            raise ImportFailed(
                f"数据冲突（可能有人同时在修改），未写入任何数据，请重试 / "
                f"conflicting data (perhaps a concurrent change); nothing written, retry: {exc}"
            ) from None
    except ImportFailed as exc:
        report.message = exc.message
        report.committed = False
        report.failed = True
    except DatabaseError as exc:
        report.failed = True
        report.message = f"数据库错误，未写入任何数据 / database error, nothing written: {exc}"
        report.committed = False
    if not report.committed:
        if dry_run and not report.message:
            report.message = "试运行：仅检查，未写入 / dry run: checked, nothing written"
        elif report.error_count and not report.message:
            report.message = (
                "有错误行，未写入任何数据（可用“保留正确行”导入其余） / rows have errors: "
                "nothing written (use partial to keep the good rows)"
            )
        for key in ("inserted", "updated", "unchanged"):
            report.counts[f"would_{key}" if dry_run else key] = report.counts[key] if dry_run else 0
            if dry_run:
                report.counts[key] = 0
    report.counts["rejected"] = len(report.error_rows)
    report.counts["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _run_points(kind, path, crs, report, progress, bulk=None):
    """Import a table chunk by chunk, preparing the next chunk while the last one is written.

    Preparing (parse, validate, encrypt, assign) is Python and numpy work; writing is mostly
    PostgreSQL's (COPY, index maintenance). One helper thread prepares chunk k + 1 while
    the database stores chunk k, so the two overlap on a multi-core machine. The helper
    never touches the database (the write stays in the import's transaction), so a layer
    whose preparation needs a lookup (persons linked to rental houses) runs serially.
    """
    from concurrent.futures import ThreadPoolExecutor

    from layers.importers.assign import AreaIndex
    from layers.importers.points import LAYERS

    total = count_rows(path)
    layer = LAYERS[kind](crs=crs, report=report, index=AreaIndex())
    layer.plan(total if bulk is None else (layer.BULK_MIN_ROWS if bulk else 0))
    reader = iter(read_table(path, chunksize=CHUNK_ROWS))
    first = next(reader, None)
    if first is None:
        raise ImportFailed("文件中没有数据行 / the file has no data rows")
    found = cols.resolve(kind, list(first.columns))
    serial = kind == "persons" and "rental_house_code" in found
    done = 0

    def write(frame, n):
        nonlocal done
        inserted, updated, unchanged = layer.write(frame)
        report.counts["inserted"] += inserted
        report.counts["updated"] += updated
        report.counts["unchanged"] += unchanged
        done += n
        report.counts["rows"] = done
        if progress:
            progress(done, max(total, done))

    def chunks():
        yield first
        yield from reader

    start = 0
    pending = None
    with ThreadPoolExecutor(max_workers=1) as helper:
        for chunk in chunks():
            # Row numbers as a spreadsheet shows them: the header is row 1.
            rows = np.arange(start + 2, start + 2 + len(chunk), dtype=np.int64)
            start += len(chunk)
            chunk = chunk.reset_index(drop=True)
            if serial:
                write(layer.prepare(chunk, found, rows), len(chunk))
                continue
            future = helper.submit(layer.prepare, chunk, found, rows)
            if pending is not None:
                write(pending[0].result(), pending[1])
            pending = (future, len(chunk))
        if pending is not None:
            write(pending[0].result(), pending[1])
    layer.finish()
