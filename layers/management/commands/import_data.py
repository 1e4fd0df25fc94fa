from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from layers.importers import KINDS, run_import


class Command(BaseCommand):
    help = (
        "Import areas or grids (GeoJSON, zipped Shapefile, GeoPackage) or rental houses, "
        "persons or cases (CSV, XLSX). All or nothing unless --partial; --dry-run writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("path")
        parser.add_argument(
            "--crs",
            default=None,
            help="coordinate system of the file: wgs84, cgcs2000, webmercator, gcj02, bd09 "
            "(tables default to wgs84; layers to the file's own CRS)",
        )
        parser.add_argument("--partial", action="store_true", help="keep the good rows")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument(
            "--retire-missing",
            action="store_true",
            help="grids: retire current grids of the file's communities that the file lacks",
        )
        parser.add_argument("--errors", help="write the row-level error report to this CSV")

    def handle(self, *args, kind, path, **options):
        if not Path(path).is_file():
            raise CommandError(f"文件不存在 / no such file: {path}")
        from tqdm import tqdm

        bar = tqdm(total=0, unit="行", disable=options["verbosity"] == 0, leave=False)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        report = run_import(
            kind,
            path,
            crs=options["crs"] or ("" if kind in ("areas", "grids") else "wgs84"),
            partial=options["partial"],
            dry_run=options["dry_run"],
            retire_missing=options["retire_missing"],
            progress=progress,
        )
        bar.close()
        for row, column, reason in report.errors[:50]:
            self.stderr.write(f"  行 row {row} · {column} · {reason}")
        if report.error_count > 50:
            self.stderr.write(f"  … {report.error_count - 50} more")
        if options["errors"] and report.error_count:
            Path(options["errors"]).write_text(report.errors_csv(), encoding="utf-8")
            self.stderr.write(f"  错误报告 error report: {options['errors']}")
        for note in report.notes[:50]:
            self.stdout.write(f"  {note}")
        self.stdout.write(report.summary())
        if report.message:
            self.stdout.write(report.message)
        if not report.committed and not options["dry_run"]:
            raise CommandError("导入失败，未写入 / import failed, nothing written")
