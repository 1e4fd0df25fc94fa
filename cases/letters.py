"""Reminder letters (提醒函) as printable Chinese PDFs, drawn with reportlab.

The CJK font is embedded (subset) from the Debian package fonts-wqy-microhei, so the PDF
prints the same everywhere without fonts on the reader's machine.
"""

import io
from pathlib import Path
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

FONT_NAME = "WenQuanYiMicroHei"
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
)
ISSUER = "西山区网格化服务管理中心（监督指挥中心）"


class FontMissing(RuntimeError):
    pass


def _font():
    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    for path in FONT_PATHS:
        if path.exists():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
            return FONT_NAME
    raise FontMissing(
        "缺少中文字体 wqy-microhei（apt-get install fonts-wqy-microhei） / "
        "the CJK font wqy-microhei is missing (install fonts-wqy-microhei)"
    )


def _styles(font):
    base = ParagraphStyle(
        "body", fontName=font, fontSize=14, leading=26, wordWrap="CJK", firstLineIndent=28
    )
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=22, leading=34, alignment=1, firstLineIndent=0
        ),
        "number": ParagraphStyle(
            "number", parent=base, fontSize=12, alignment=1, firstLineIndent=0
        ),
        "to": ParagraphStyle("to", parent=base, firstLineIndent=0),
        "body": base,
        "sign": ParagraphStyle("sign", parent=base, alignment=2, firstLineIndent=0),
    }


def reminder_letter_pdf(reminder):
    """Return the PDF bytes of a reminder letter (提醒函) issued for an overdue case."""
    from cases import services
    from cases.jobs import GRACE_WORKING_DAYS

    font = _font()
    st = _styles(font)
    case = reminder.case
    issued = timezone.localtime(reminder.created_at)
    due = timezone.localtime(reminder.deadline)
    reported = timezone.localtime(case.reported_at)
    index = services.LEVEL_ORDER.index(case.level) if case.level in services.LEVEL_ORDER else 0
    upper = services.LEVEL_ORDER[min(index + 1, len(services.LEVEL_ORDER) - 1)]

    def p(text, style):
        return Paragraph(escape(text), st[style])

    place = case.address or (case.grid.name if case.grid_id else "")
    summary = case.title or case.description
    if len(summary) > 120:
        summary = summary[:120] + "…"
    story = [
        p("督办提醒函", "title"),
        p(reminder.number or f"西综督〔{issued.year}〕{reminder.pk}号", "number"),
        Spacer(1, 8 * mm),
        p(f"{reminder.unit_name or selectors_unit(case)}：", "to"),
        p(
            f"{reported:%Y年%m月%d日}登记的{case.category.name}案件"
            f"（案件编号 {case.number}{'，地点：' + place if place else ''}），"
            f"由贵单位承办，办理时限已于{due:%Y年%m月%d日%H时%M分}届满，"
            f"截至本函发出时尚未办结。",
            "body",
        ),
        p(f"案情摘要：{summary}", "body"),
        p(
            f"请贵单位高度重视，于收到本函后{GRACE_WORKING_DAYS}个工作日内办结并在系统中反馈"
            f"办理结果；逾期仍未办结的，将按“小事不出社区、大事不出街道、矛盾不上交”的要求"
            f"依程序上报{services.LEVEL_NAMES[upper]}级处理，并纳入考核通报。",
            "body",
        ),
        p("特此提醒。", "body"),
        Spacer(1, 16 * mm),
        p(ISSUER, "sign"),
        p(f"{issued:%Y年%m月%d日}", "sign"),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=28 * mm,
        rightMargin=26 * mm,
        topMargin=37 * mm,
        bottomMargin=35 * mm,
        title=f"督办提醒函 {reminder.number}",
        author=ISSUER,
    )
    doc.build(story)
    return buffer.getvalue()


def selectors_unit(case):
    from cases.selectors import handler_unit_name

    return handler_unit_name(case)
