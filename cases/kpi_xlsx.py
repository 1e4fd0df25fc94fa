"""The KPI workbook (XLSX): a summary sheet and one sheet per breakdown, Chinese headers."""

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from cases.kpis import DEFINITIONS, DIMENSIONS, RATES
from gridmap import spreadsheets

PERCENT = "0.0%"
INTEGER = "#,##0"

# (key, Chinese header, kind): the columns of every breakdown table (page and workbook).
COLUMNS = [
    ("intake", "受理量（件）", "count"),
    ("petition_visits", "信访人次", "count"),
    ("closed", "结案数", "count"),
    ("closure_rate", "结案率", "rate"),
    ("on_time_rate", "按期结案率", "rate"),
    ("callbacks", "回访次数", "count"),
    ("satisfaction_rate", "满意率", "rate"),
    ("rework_rate", "返工率", "rate"),
    ("escalation_rate", "上报率", "rate"),
    ("community_level_rate", "小事不出社区", "rate"),
    ("street_level_rate", "大事不出街道", "rate"),
]

# (key, Chinese name) of the summary sheet, in order.
SUMMARY = [
    ("intake", "受理量（件）"),
    ("petition_cases", "信访件数（件）"),
    ("petition_visits", "信访人次（人次）"),
    ("closed", "结案数（件）"),
    ("due", "应结案数（件）"),
    ("closed_on_time", "按期结案数（件）"),
    ("callbacks", "回访次数"),
    ("callbacks_satisfied", "满意及基本满意次数"),
    ("resolved_once", "曾办结件数"),
    ("reworked", "重办件数"),
    ("escalated", "上报件数"),
    ("resolved", "已记录办结层级件数"),
    ("resolved_community_level", "网格及社区层级办结件数"),
    ("resolved_street_level", "街道及以下层级办结件数"),
    ("closure_rate", "结案率"),
    ("closure_rate_due", "应结案结案率"),
    ("on_time_rate", "按期结案率"),
    ("satisfaction_rate", "满意率"),
    ("rework_rate", "返工率"),
    ("escalation_rate", "上报率"),
    ("community_level_rate", "小事不出社区"),
    ("street_level_rate", "大事不出街道"),
]

FILTER_NAMES = {
    "street": "街道",
    "community": "社区",
    "grid": "网格",
    "category": "事项类别",
    "source": "来源",
    "since": "起始日期",
    "until": "截止日期",
}

_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")


def exact_rate(row, name):
    """Return the unrounded rate (numerator / denominator), or None."""
    num, den = RATES[name]
    return row[num] / row[den] if row[den] else None


def _header(ws, row, titles):
    for col, title in enumerate(titles, start=1):
        cell = ws.cell(row=row, column=col, value=title)
        cell.font = _BOLD
        cell.fill = _HEAD_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _summary_sheet(ws, report, filter_labels):
    ws.title = "指标汇总"
    ws["A1"] = "网格化管理 考核指标"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = "统计截至"
    ws["B2"] = report["as_of_text"]
    ws["A3"] = "筛选条件"
    ws["B3"] = spreadsheets.xlsx_text("；".join(filter_labels)) or "全部（本人可见范围）"
    _header(ws, 5, ["指标", "数值", "分子", "分母", "口径说明"])
    r = 6
    for key, name in SUMMARY:
        ws.cell(row=r, column=1, value=name)
        if key in RATES:
            num, den = RATES[key]
            cell = ws.cell(row=r, column=2, value=exact_rate(report, key))
            cell.number_format = PERCENT
            ws.cell(row=r, column=3, value=report[num]).number_format = INTEGER
            ws.cell(row=r, column=4, value=report[den]).number_format = INTEGER
        else:
            ws.cell(row=r, column=2, value=report[key]).number_format = INTEGER
        ws.cell(row=r, column=5, value=DEFINITIONS.get(key, ("", ""))[0])
        r += 1
    for col, width in zip("ABCDE", (26, 12, 10, 10, 70), strict=True):
        ws.column_dimensions[col].width = width


def _breakdown_sheet(wb, by, rows):
    ws = wb.create_sheet(f"按{DIMENSIONS[by][0]}")
    titles = [DIMENSIONS[by][0], "代码"] + [title for _k, title, _kind in COLUMNS]
    _header(ws, 1, titles)
    for r, row in enumerate(rows, start=2):
        ws.cell(row=r, column=1, value=spreadsheets.xlsx_text(row["label"]))
        ws.cell(row=r, column=2, value=spreadsheets.xlsx_text(row["key"]))
        for c, (key, _title, kind) in enumerate(COLUMNS, start=3):
            if kind == "rate":
                ws.cell(row=r, column=c, value=exact_rate(row, key)).number_format = PERCENT
            else:
                ws.cell(row=r, column=c, value=row[key]).number_format = INTEGER
    ws.freeze_panes = "C2"
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 24
    for c in range(3, len(titles) + 1):
        ws.column_dimensions[get_column_letter(c)].width = 12


def kpi_workbook(report, breakdowns, filter_labels=()):
    """Return the XLSX bytes for the totals `report` and `breakdowns` ({by: rows})."""
    wb = Workbook()
    _summary_sheet(wb.active, report, list(filter_labels))
    for by, rows in breakdowns.items():
        _breakdown_sheet(wb, by, rows)
    # Area and category names typed by users stay text, never formulas.
    spreadsheets.strings_only(wb)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
