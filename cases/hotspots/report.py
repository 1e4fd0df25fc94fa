"""The report for the 分析研判 meeting: an XLSX workbook and a PDF.

The PDF embeds a Chinese TrueType font (WenQuanYi Micro Hei from Debian's
fonts-wqy-microhei, first face of the .ttc), so that it prints the same everywhere; its
map is drawn as vector polygons with reportlab.graphics (matplotlib is not a
dependency), its charts with reportlab's chart widgets. Nothing is fetched from the
network.
"""

import io
import logging
import math
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from django.utils import timezone

from cases.hotspots import service, sql, stats
from cases.hotspots.indicators import BEIJING
from gridmap import spreadsheets

log = logging.getLogger(__name__)

FONT_NAME = "WQYMicroHei"
FONT_PATHS = [
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
]
# Used only when no TrueType CJK font is installed: a standard CID font, not embedded.
FALLBACK_FONT = "STSong-Light"

SOURCE_LABELS = {
    "police_110": "110 非警务警情",
    "petition": "信访",
    "dispute": "矛盾纠纷",
    "patrol": "网格员巡查",
    "hotline_12345": "12345 热线",
    "self_service": "群众自助",
}

GRID_COLUMNS = [
    ("code", "网格编码"),
    ("name", "网格"),
    ("street", "街道"),
    ("community", "社区"),
    ("cases", "案件数"),
    ("registered", "户籍人口"),
    ("floating", "流动人口"),
    ("population", "实有人口"),
    ("case_rate_per_1000", "每千人案件"),
    ("rentals", "出租房屋"),
    ("rental_density", "出租房屋密度（户/平方千米）"),
    ("floating_ratio", "流动/户籍"),
    ("tenants_per_room", "每间租住人数"),
    ("unregistered_tenants", "未登记租户"),
    ("overdue", "超期案件"),
    ("overdue_share", "超期占比"),
    ("gi_z", "Gi* z 值"),
    ("gi_p", "p 值（正态）"),
    ("gi_p_sim", "p 值（置换）"),
    ("gi_q", "FDR q 值"),
    ("gi_label", "热点分级"),
    ("lisa_i", "局部莫兰 I"),
    ("lisa_p", "莫兰 p 值"),
    ("lisa_label", "聚类/异常值"),
    ("emerging_label", "时空热点类型"),
    ("emerging_n_hot", "显著热点周数"),
    ("risk_index", "风险指数"),
]


def filename(area, query, ext):
    """Return the download name of a report."""
    return f"分析研判_{area.name}_{query.period.start:%Y%m%d}-{query.period.end:%Y%m%d}.{ext}"


def _describe(area, query, result):
    """Return [(label, value)] describing what the report covers."""
    from cases.models import Category

    category = "全部类别"
    if query.category_id:
        category = Category.objects.filter(pk=query.category_id).values_list("name", flat=True)
        category = category.first() or "—"
    rows = [
        ("分析区域", area.name),
        ("统计期", query.period.label()),
        ("对比期", query.compare.label() if query.compare else "无"),
        ("事项类别", category),
        ("案件来源", SOURCE_LABELS.get(query.source, "全部来源")),
        ("分析变量", "每千人案件发生率" if query.variable != "cases" else "案件数"),
        ("网格数", str(len(result["grids"]))),
        ("案件数", str(int(result["grids"]["cases"].sum()))),
        ("生成时间", f"{timezone.now().astimezone(BEIJING):%Y-%m-%d %H:%M}"),
        ("数据版本", f"{result['versions']['data']} / 网格图层 {result['versions']['grid_layer']}"),
    ]
    return rows


METHODS = [
    "热点分析：Getis-Ord Gi*，Queen 邻接（共边或共点），孤立网格连接最近网格；999 次条件置换；"
    "按正态 p 值经 Benjamini–Hochberg 错误发现率校正后分为 99%/95%/90% 置信度的热点和冷点。",
    "聚类与异常值：Anselin 局部莫兰指数，行标准化权重，999 次置换，p ≤ 0.05。",
    "核密度：四次核（Quartic），单位为件/平方千米，在 CGCS2000 高斯投影（EPSG:4543）中计算。",
    "时空热点：网格 × 周（北京时间自然周）时空立方体，每个单元计算时空 Gi*，"
    "再对 z 值序列做 Mann–Kendall 趋势检验，按 ArcGIS 新兴热点分析的定义分类。",
    "案件按北京时间上报日期统计，不计被合并的重复件；超期指办结晚于期限或至今未办结且已过期限。",
]


# ---------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------


def _cell(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else round(float(value), 6)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return spreadsheets.xlsx_text(value)


def _sheet_table(ws, header, rows, widths=None):
    from openpyxl.styles import Alignment, Font, PatternFill

    ws.append(header)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E79")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    header_row = ws.max_row
    for row in rows:
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    for k, width in enumerate(widths or [14] * len(header), start=1):
        ws.column_dimensions[ws.cell(row=header_row, column=k).column_letter].width = width


def workbook(*, area, query, result, patrol=None):
    """Return the meeting workbook as XLSX bytes."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.drawing.image import Image as XLImage
    from openpyxl.styles import Font, PatternFill

    frame = result["grids"]
    wb = Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append([f"{area.name}矛盾纠纷热点分析研判"])
    ws["A1"].font = Font(bold=True, size=14)
    for label, value in _describe(area, query, result):
        ws.append([label, value])
    ws.append([])
    ws.append(["风险指数公式", result["formula"]])
    ws.append(
        [
            "指标权重",
            "；".join(f"{stats.RISK_INDICATORS[k]} {v:g}" for k, v in result["weights"].items()),
        ]
    )
    for note in result["notes"]:
        ws.append(["提示", note])
    ws.append([])
    ws.append(["方法说明"])
    for text in METHODS:
        ws.append(["", text])
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 110

    png = map_png(result, "gi")
    if png is not None:
        ws_map = wb.create_sheet("热点地图")
        ws_map.append(["热点分析（Gi*）地图"])
        image = XLImage(io.BytesIO(png))
        ws_map.add_image(image, "A3")
        legend_col = 14
        for k, (bin_value, label) in enumerate(stats.GI_BIN_LABELS_ZH.items()):
            cell = ws_map.cell(row=3 + k, column=legend_col, value=label)
            colour = service.GI_COLOURS[bin_value].lstrip("#").upper()
            ws_map.cell(row=3 + k, column=legend_col - 1).fill = PatternFill(
                "solid", fgColor=colour
            )
            cell.font = Font(size=10)

    ws = wb.create_sheet("网格指标与热点")
    ordered = frame.sort_values(["gi_bin", "gi_z"], ascending=False)
    _sheet_table(
        ws,
        [label for _, label in GRID_COLUMNS],
        ([row[c] for c, _ in GRID_COLUMNS] for _, row in ordered.iterrows()),
        widths=[24, 18, 12, 12] + [11] * (len(GRID_COLUMNS) - 4),
    )
    label_col = [c for c, _ in GRID_COLUMNS].index("gi_label") + 1
    for r, (_, row) in enumerate(ordered.iterrows(), start=2):
        colour = service.GI_COLOURS[int(row["gi_bin"])].lstrip("#").upper()
        ws.cell(row=r, column=label_col).fill = PatternFill("solid", fgColor=colour)

    ws = wb.create_sheet("社区风险指数")
    communities = result["communities"]
    cols = [
        ("street", "街道"),
        ("community", "社区"),
        ("grids", "网格数"),
        ("hot_grids", "热点网格"),
        ("risk_index", "风险指数"),
        *[(k, v) for k, v in stats.RISK_INDICATORS.items()],
        ("cases", "案件数"),
        ("population", "实有人口"),
        ("rentals", "出租房屋"),
    ]
    _sheet_table(
        ws,
        [label for _, label in cols],
        ([row[c] for c, _ in cols] for _, row in communities.iterrows()),
        widths=[12, 14, 8, 10, 10] + [16] * 6 + [10, 10, 10],
    )
    ws.append([])
    ws.append(["公式", result["formula"]])

    ws = wb.create_sheet("时空热点")
    emerging = frame[frame["emerging"] != 0].sort_values("emerging", ascending=False)
    _sheet_table(
        ws,
        ["网格编码", "网格", "社区", "类型", "显著热点周数", "趋势 z", "趋势 p", "案件数"],
        (
            [
                r["code"],
                r["name"],
                r["community"],
                r["emerging_label"],
                r["emerging_n_hot"],
                r["emerging_trend_z"],
                r["emerging_trend_p"],
                r["cases"],
            ]
            for _, r in emerging.iterrows()
        ),
        widths=[24, 18, 12, 16, 12, 10, 10, 10],
    )

    ws = wb.create_sheet("逐周案件")
    weekly = result["weekly"]
    names = frame["name"].reindex(weekly.index)
    _sheet_table(
        ws,
        ["网格", *[f"{w:%Y-%m-%d}" for w in weekly.columns]],
        ([names.loc[gid], *weekly.loc[gid].tolist()] for gid in weekly.index),
        widths=[18] + [11] * len(weekly.columns),
    )

    if patrol is not None:
        ws = wb.create_sheet("巡查优先级")
        rows = [
            [
                w["worker"],
                g["level"],
                g["name"],
                g["code"],
                g["gi_label"],
                g["emerging_label"],
                g["cases"],
            ]
            for w in patrol
            for g in w["grids"]
        ]
        _sheet_table(
            ws,
            ["网格员", "优先级", "网格", "网格编码", "热点分级", "时空热点", "案件数"],
            rows,
            widths=[10, 8, 18, 24, 18, 16, 8],
        )

    compare = result.get("compare")
    if compare is not None:
        ws = wb.create_sheet("周期对比")
        ws.append([f"本期 {query.period.label()}；对比期 {query.compare.label()}"])
        _sheet_table(
            ws,
            [
                "网格编码",
                "网格",
                "社区",
                "本期案件",
                "对比期案件",
                "变化",
                "变化率 %",
                "本期分级",
                "对比期分级",
                "热点变化",
            ],
            (
                [
                    r["code"],
                    r["name"],
                    r["community"],
                    r["cases"],
                    r["cases_before"],
                    r["change"],
                    r["change_pct"],
                    r["gi_label"],
                    r["gi_label_before"],
                    r["status"],
                ]
                for _, r in compare.sort_values("change", ascending=False).iterrows()
            ),
            widths=[24, 18, 12, 10, 10, 8, 10, 10, 10, 12],
        )

    # Charts with their data, as native Excel charts.
    ws = wb.create_sheet("图表")
    ws.append(["热点分级", "网格数"])
    counts = frame["gi_bin"].value_counts()
    for k in range(3, -4, -1):
        ws.append([stats.GI_BIN_LABELS_ZH[k], int(counts.get(k, 0))])
    chart = BarChart()
    chart.title = "热点分级统计"
    chart.y_axis.title = "网格数"
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=8), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=8))
    chart.width, chart.height = 18, 8
    ws.add_chart(chart, "D2")
    start = ws.max_row + 2
    ws.cell(row=start, column=1, value="周")
    ws.cell(row=start, column=2, value="案件数")
    totals = weekly.sum(axis=0)
    for k, (week, value) in enumerate(totals.items(), start=1):
        ws.cell(row=start + k, column=1, value=f"{week:%Y-%m-%d}")
        ws.cell(row=start + k, column=2, value=float(value))
    line = LineChart()
    line.title = "逐周案件数"
    line.add_data(
        Reference(ws, min_col=2, min_row=start, max_row=start + len(totals)), titles_from_data=True
    )
    line.set_categories(Reference(ws, min_col=1, min_row=start + 1, max_row=start + len(totals)))
    line.width, line.height = 18, 8
    ws.add_chart(line, "D20")
    ws.column_dimensions["A"].width = 18

    # Names typed by users stay text, never formulas (gridmap.spreadsheets).
    spreadsheets.strings_only(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------------
# Map geometry, shared by the PNG (workbook) and the vector map (PDF)
# ---------------------------------------------------------------------------


def _grid_rings(grid_ids):
    """Return {grid id: [exterior rings as (n, 2) lon/lat arrays]} of the grids."""
    import shapely

    rings = {}
    for gid, wkb in sql.grid_geometries(grid_ids=grid_ids, tolerance=0.00002):
        geom = shapely.from_wkb(wkb)
        parts = getattr(geom, "geoms", [geom])
        rings[gid] = [np.asarray(p.exterior.coords) for p in parts if not p.is_empty]
    return rings


class _Projection:
    """Equirectangular projection of lon/lat to a box of width × height units."""

    def __init__(self, rings, width, height, margin=4):
        points = np.vstack([r for parts in rings.values() for r in parts])
        self.w, self.s = points.min(axis=0)
        e, n = points.max(axis=0)
        self.k = math.cos(math.radians((self.s + n) / 2))
        span_x = max((e - self.w) * self.k, 1e-9)
        span_y = max(n - self.s, 1e-9)
        self.scale = min((width - 2 * margin) / span_x, (height - 2 * margin) / span_y)
        self.margin = margin
        self.width = span_x * self.scale + 2 * margin
        self.height = span_y * self.scale + 2 * margin

    def __call__(self, ring):
        x = (ring[:, 0] - self.w) * self.k * self.scale + self.margin
        y = (ring[:, 1] - self.s) * self.scale + self.margin
        return x, y


def _layer_colours(result, layer):
    from cases.hotspots.views import grid_styles

    return {gid: colour for gid, (colour, _label) in grid_styles(result, layer).items()}


def map_png(result, layer, width=900, height=700):
    """Return a PNG of the grids coloured by the layer's classes (PIL), or None."""
    from PIL import Image, ImageDraw

    frame = result["grids"]
    rings = _grid_rings(list(frame.index))
    if not rings:
        return None
    proj = _Projection(rings, width, height, margin=8)
    image = Image.new("RGB", (int(proj.width), int(proj.height)), "white")
    draw = ImageDraw.Draw(image)
    colours = _layer_colours(result, layer)
    for gid, parts in rings.items():
        for ring in parts:
            x, y = proj(ring)
            xy = list(zip(x.tolist(), (proj.height - y).tolist(), strict=True))
            draw.polygon(xy, fill=colours.get(gid, "#ffffff"), outline="#666666")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------


def register_font():
    """Register the embedded Chinese font and return its name (or the CID fallback)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    for path in FONT_PATHS:
        if path.exists():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
            return FONT_NAME
    log.warning("No Chinese TrueType font found; the PDF uses %s, not embedded", FALLBACK_FONT)
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


def _hex(colour):
    from reportlab.lib import colors

    return colors.HexColor(colour)


def map_drawing(result, layer, font, width, height):
    """Return a reportlab Drawing of the grids coloured by the layer, with a legend."""
    from reportlab.graphics.shapes import Drawing, Polygon, Rect, String

    from cases.hotspots.views import legend

    frame = result["grids"]
    rings = _grid_rings(list(frame.index))
    legend_width = 120
    drawing = Drawing(width, height)
    if not rings:
        drawing.add(String(10, height / 2, "没有网格", fontName=font, fontSize=10))
        return drawing
    proj = _Projection(rings, width - legend_width, height - 10)  # room for labels
    colours = _layer_colours(result, layer)
    for gid, parts in rings.items():
        for ring in parts:
            x, y = proj(ring)
            points = np.column_stack([x, y]).ravel().tolist()
            drawing.add(
                Polygon(
                    points,
                    fillColor=_hex(colours.get(gid, "#ffffff")),
                    strokeColor=_hex("#666666"),
                    strokeWidth=0.3,
                )
            )
    # Community names at the middle of their grids, for orientation at the meeting.
    community_of = frame["community"].to_dict()
    extents = {}
    for gid, parts in rings.items():
        for ring in parts:
            x, y = proj(ring)
            box = extents.setdefault(
                community_of.get(gid, ""), [x.min(), y.min(), x.max(), y.max()]
            )
            box[:] = [
                min(box[0], x.min()),
                min(box[1], y.min()),
                max(box[2], x.max()),
                max(box[3], y.max()),
            ]
    for name, (x0, _y0, x1, y1) in extents.items():
        if name:
            drawing.add(
                String((x0 + x1) / 2, y1 + 2, name, fontName=font, fontSize=7, textAnchor="middle")
            )
    top = height - 12
    for k, (colour, label, count) in enumerate(legend(result, layer)):
        y = top - k * 13
        x = width - legend_width + 6
        drawing.add(
            Rect(
                x, y - 2, 9, 9, fillColor=_hex(colour), strokeColor=_hex("#888888"), strokeWidth=0.3
            )
        )
        text = label if count is None else f"{label}（{count}）"
        drawing.add(String(x + 13, y, text, fontName=font, fontSize=7))
    return drawing


def _bar_chart(labels, values, font, width=480, height=170, colours=None):
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing

    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 45, width - 60, height - 60
    chart.data = [list(values) or [0]]
    chart.categoryAxis.categoryNames = list(labels) or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 30
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = _hex("#2e75b6")
    if colours:
        for k, colour in enumerate(colours):
            chart.bars[(0, k)].fillColor = _hex(colour)
    drawing.add(chart)
    return drawing


def _line_chart(labels, values, font, width=480, height=160):
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing

    drawing = Drawing(width, height)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 40, 35, width - 60, height - 50
    chart.data = [list(values) or [0]]
    step = max(1, len(labels) // 12)
    chart.categoryAxis.categoryNames = [
        lab if k % step == 0 else "" for k, lab in enumerate(labels)
    ]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.lines[0].strokeColor = _hex("#c00000")
    chart.lines[0].strokeWidth = 1.2
    drawing.add(chart)
    return drawing


def _fmt(value, digits=2):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def _table(rows, font, widths=None, header_colour="#1F4E79"):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 7.5),
                ("BACKGROUND", (0, 0), (-1, 0), _hex(header_colour)),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("GRID", (0, 0), (-1, -1), 0.25, _hex("#999999")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _hex("#F2F5F9")]),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def pdf(*, area, query, result, layer="gi", patrol=None):
    """Return the meeting report as PDF bytes (A4, Chinese font embedded)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    font = register_font()
    frame = result["grids"]
    title = f"{area.name}矛盾纠纷热点分析研判报告"
    styles = {
        "title": ParagraphStyle("t", fontName=font, fontSize=17, leading=24, spaceAfter=6),
        "h": ParagraphStyle(
            "h", fontName=font, fontSize=12, leading=17, spaceBefore=8, spaceAfter=4
        ),
        "p": ParagraphStyle("p", fontName=font, fontSize=9, leading=13, wordWrap="CJK"),
        "small": ParagraphStyle("s", fontName=font, fontSize=7.5, leading=10, wordWrap="CJK"),
    }
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author="网格化管理系统 分析研判",
        subject="分析研判会议材料",
    )
    width = A4[0] - 30 * mm

    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(15 * mm, 8 * mm, f"{title} · {query.period.label()}")
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"第 {document.page} 页")
        canvas.restoreState()

    # A Paragraph parses its text as markup: names ("<font>", an unclosed "<b") are
    # escaped, or they would change the report or stop it with an error.
    story = [Paragraph(escape(title), styles["title"])]
    story.append(
        _table(
            [["项目", "内容"], *_describe(area, query, result)], font, [30 * mm, width - 30 * mm]
        )
    )
    for note in result["notes"]:
        story.append(Paragraph(escape(f"提示：{note}"), styles["p"]))

    hot = frame[frame["gi_bin"] > 0]
    summary = (
        f"统计期内共 {int(frame['cases'].sum())} 件案件，分布在 {len(frame)} 个网格。"
        f"热点网格 {len(hot)} 个（其中 99% 置信度 {int((frame['gi_bin'] == 3).sum())} 个），"
        f"冷点网格 {int((frame['gi_bin'] < 0).sum())} 个；"
    )
    if len(hot):
        by_community = hot.groupby("community").size().sort_values(ascending=False)
        summary += (
            "热点集中在" + "、".join(f"{c}（{n} 个）" for c, n in by_community.items()) + "。"
        )
    emerging_hot = frame[frame["emerging"].isin([1, 2, 3, 4])]
    if len(emerging_hot):
        summary += f"新增、连续、加强或持续的时空热点 {len(emerging_hot)} 个，需重点关注。"
    story += [Paragraph("一、总体情况", styles["h"]), Paragraph(escape(summary), styles["p"])]

    story.append(Paragraph("二、热点地图（Getis-Ord Gi*）", styles["h"]))
    story.append(map_drawing(result, "gi", font, width, 105 * mm))
    if layer not in ("gi", "kde"):
        from cases.hotspots.forms import LAYERS

        story.append(Paragraph(f"地图：{dict(LAYERS)[layer]}", styles["h"]))
        story.append(map_drawing(result, layer, font, width, 95 * mm))
    if layer == "kde" and result.get("kde"):
        story.append(Paragraph("案件核密度", styles["h"]))
        story.append(_kde_image(result["kde"], width))

    story.append(Paragraph("三、统计图", styles["h"]))
    counts = frame["gi_bin"].value_counts()
    story.append(
        _bar_chart(
            [stats.GI_BIN_LABELS_ZH[k] for k in range(3, -4, -1)],
            [int(counts.get(k, 0)) for k in range(3, -4, -1)],
            font,
            width=width,
            colours=[service.GI_COLOURS[k] for k in range(3, -4, -1)],
        )
    )
    totals = result["weekly"].sum(axis=0)
    story.append(Paragraph("逐周案件数", styles["p"]))
    story.append(
        _line_chart([f"{w:%m-%d}" for w in totals.index], totals.tolist(), font, width=width)
    )

    story.append(PageBreak())
    story.append(Paragraph("四、热点与冷点网格", styles["h"]))
    significant = frame[frame["gi_bin"] != 0].sort_values("gi_z", ascending=False).head(30)
    if len(significant):
        rows = [["网格", "社区", "案件", "每千人", "z 值", "q 值", "分级", "时空热点"]]
        rows += [
            [
                r["name"],
                r["community"],
                _fmt(r["cases"], 0),
                _fmt(r["case_rate_per_1000"]),
                _fmt(r["gi_z"]),
                _fmt(r["gi_q"], 4),
                r["gi_label"],
                r["emerging_label"],
            ]
            for _, r in significant.iterrows()
        ]
        story.append(_table(rows, font))
    else:
        story.append(Paragraph("没有统计显著的热点或冷点网格。", styles["p"]))

    emerging = frame[frame["emerging"] != 0].sort_values("emerging", ascending=False).head(30)
    story.append(Paragraph("五、时空热点", styles["h"]))
    if len(emerging):
        rows = [["网格", "社区", "类型", "显著热点周数", "趋势 z", "趋势 p", "案件"]]
        rows += [
            [
                r["name"],
                r["community"],
                r["emerging_label"],
                _fmt(r["emerging_n_hot"]),
                _fmt(r["emerging_trend_z"]),
                _fmt(r["emerging_trend_p"], 3),
                _fmt(r["cases"], 0),
            ]
            for _, r in emerging.iterrows()
        ]
        story.append(_table(rows, font))
    else:
        story.append(Paragraph("统计期内没有检测到时空热点模式。", styles["p"]))

    story.append(Paragraph("六、出租房屋社区风险指数", styles["h"]))
    story.append(Paragraph(escape(result["formula"]).replace("\n", "<br/>"), styles["p"]))
    rows = [
        [
            "社区",
            "风险指数",
            "热点网格",
            "每千人案件",
            "出租房/平方千米",
            "流动/户籍",
            "每间租住",
            "未登记租户",
            "超期占比",
        ]
    ]
    for _, r in result["communities"].iterrows():
        rows.append(
            [
                r["community"],
                _fmt(r["risk_index"], 3),
                _fmt(r["hot_grids"]),
                _fmt(r["case_rate_per_1000"]),
                _fmt(r["rental_density"], 0),
                _fmt(r["floating_ratio"], 1),
                _fmt(r["tenants_per_room"]),
                _fmt(r["unregistered_tenants"], 0),
                "—" if pd.isna(r["overdue_share"]) else f"{r['overdue_share'] * 100:.0f}%",
            ]
        )
    story.append(Spacer(1, 3))
    story.append(_table(rows, font))
    top_risk = result["communities"].head(15)
    story.append(Spacer(1, 4))
    story.append(
        _bar_chart(
            list(top_risk["community"]),
            [float(v) for v in top_risk["risk_index"].fillna(0)],
            font,
            width=width,
            height=150,
        )
    )

    if patrol:
        story.append(Paragraph("七、巡查优先级（按网格员）", styles["h"]))
        rows = [["网格员", "优先级", "网格", "热点分级", "时空热点", "案件"]]
        for w in patrol:
            for g in w["grids"]:
                rows.append(
                    [
                        w["worker"],
                        g["level"],
                        g["name"],
                        g["gi_label"],
                        g["emerging_label"],
                        str(g["cases"]),
                    ]
                )
        if len(rows) > 1:
            story.append(_table(rows, font))
        else:
            story.append(Paragraph("没有需要优先巡查的热点网格。", styles["p"]))

    compare = result.get("compare")
    if compare is not None:
        story.append(
            Paragraph(
                f"八、周期对比（本期 {query.period.label()}，对比期 {query.compare.label()}）",
                styles["h"],
            )
        )
        changed = compare.reindex(compare["change"].abs().sort_values(ascending=False).index).head(
            25
        )
        rows = [["网格", "社区", "本期", "对比期", "变化", "热点变化"]]
        rows += [
            [
                r["name"],
                r["community"],
                _fmt(r["cases"], 0),
                _fmt(r["cases_before"], 0),
                _fmt(r["change"], 0),
                r["status"],
            ]
            for _, r in changed.iterrows()
        ]
        story.append(_table(rows, font))

    story.append(Paragraph("方法说明", styles["h"]))
    for text in METHODS:
        story.append(Paragraph(text, styles["small"]))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _kde_image(kde, width):
    """Return a platypus Image of the heat surface."""
    from PIL import Image as PILImage
    from reportlab.platypus import Image

    rgba = kde["rgba"]
    base = PILImage.new("RGBA", (rgba.shape[1], rgba.shape[0]), (255, 255, 255, 255))
    base.alpha_composite(PILImage.fromarray(rgba, "RGBA"))
    buffer = io.BytesIO()
    base.convert("RGB").save(buffer, format="PNG")
    buffer.seek(0)
    (s, w), (n, e) = kde["bounds"]
    aspect = (n - s) / max((e - w) * math.cos(math.radians((s + n) / 2)), 1e-9)
    return Image(buffer, width=width, height=min(width * aspect, 120 * 72 / 25.4))
