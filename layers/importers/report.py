"""The outcome of an import: counts, row-level errors and notes."""

import csv
import io

from gridmap import spreadsheets


class ImportFailed(Exception):
    """The file cannot be imported at all (format, size, columns, CRS...)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class ImportReport:
    """Collect the counts, row-level errors and notes of one import."""

    # Enough to fix a file by; the count of errors is always exact.
    MAX_ERRORS = 50_000

    def __init__(self):
        self.errors = []
        self.error_count = 0
        self.error_rows = set()
        self.notes = []
        self.counts = {"rows": 0, "inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        self.committed = False
        self.message = ""
        # Set by run_import: whether rows with errors may be dropped (partial import).
        self.partial_ok = False
        # True when the file could not be imported at all (format, size, columns...).
        self.failed = False

    def error(self, row, column, reason):
        """Record that a row (1-based, as numbered in the file) was rejected."""
        self.error_count += 1
        self.error_rows.add(int(row))
        if len(self.errors) < self.MAX_ERRORS:
            self.errors.append([int(row), str(column), str(reason)])

    def errors_for(self, rows, column, reasons):
        """Record one error per row of an array (vectorised callers)."""
        for row, reason in zip(rows, reasons, strict=True):
            self.error(row, column, reason)

    def note(self, text):
        self.notes.append(str(text))

    @property
    def ok(self):
        return self.error_count == 0

    def errors_csv(self):
        """Return the error report as CSV text (UTF-8 with BOM so that Excel reads it)."""
        buf = io.StringIO()
        buf.write("\ufeff")
        writer = csv.writer(buf)
        writer.writerow(["行号 row", "列 column", "原因 reason"])
        # Reasons quote the file's cells: a cell "=cmd|…" must not become a formula.
        writer.writerows(
            spreadsheets.csv_row(error) for error in sorted(self.errors, key=lambda e: e[0])
        )
        return buf.getvalue()

    def summary(self):
        c = self.counts
        state = "已写入 committed" if self.committed else "未写入 nothing written"
        return (
            f"{c['rows']} 行 rows · 新增 inserted {c['inserted']} · 更新 updated {c['updated']} · "
            f"未变 unchanged {c['unchanged']} · 拒绝 rejected {c['rejected']} · "
            f"错误 errors {self.error_count} · {state}"
        )
