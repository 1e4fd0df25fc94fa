"""The meeting report: the XLSX workbook opens, the PDF embeds its Chinese font."""

import io

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PARAMS = {"start": "2025-12-01", "compare_start": "2025-06-01", "compare_end": "2025-11-30"}


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_xlsx_workbook_opens_with_every_sheet(client, login):
    from openpyxl import load_workbook

    login("fenxi")
    response = client.get(reverse("hotspots:xlsx"), PARAMS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    assert "attachment" in response["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.content))
    for name in [
        "说明",
        "热点地图",
        "网格指标与热点",
        "社区风险指数",
        "时空热点",
        "逐周案件",
        "巡查优先级",
        "周期对比",
        "图表",
    ]:
        assert name in wb.sheetnames, name
    grids = wb["网格指标与热点"]
    header = [c.value for c in grids[1]]
    assert "Gi* z 值" in header and "风险指数" in header
    # One row per grid of the district, hottest first: a Chuanfang grid.
    from layers.models import Grid

    assert grids.max_row - 1 == Grid.objects.current().count()
    assert "船房社区" in grids.cell(row=2, column=header.index("社区") + 1).value
    assert any("风险指数 =" in str(c.value) for row in wb["说明"].iter_rows() for c in row)
    assert wb["图表"]._charts
    assert wb["热点地图"]._images


def test_pdf_embeds_the_chinese_font_and_shows_the_map(client, login):
    login("fenxi")
    response = client.get(reverse("hotspots:pdf"), {**PARAMS, "layer": "emerging"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    content = response.content
    assert content.startswith(b"%PDF")
    assert b"WenQuanYiMicroHei" in content
    assert b"/FontFile2" in content  # the TrueType font program is embedded


@pytest.mark.parametrize("layer", ["gi", "lisa", "kde", "risk"])
def test_pdf_renders_for_every_layer(client, login, layer):
    login("zhihui")
    response = client.get(reverse("hotspots:pdf"), {"layer": layer})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_pdf_text_is_chinese(client, login, pdf_text):
    login("fenxi")
    text = pdf_text(client.get(reverse("hotspots:pdf"), PARAMS).content)
    assert "热点分析研判报告" in text
    assert "船房社区" in text


def test_pdf_text_is_extractable_without_poppler(client, login):
    """Check the Chinese title survives text extraction (ToUnicode map), with reportlab only."""
    login("fenxi")
    content = client.get(reverse("hotspots:pdf"), PARAMS).content
    assert b"/ToUnicode" in content


def test_report_of_a_street_user_covers_only_his_street(client, login):
    from openpyxl import load_workbook

    from layers.models import Grid

    user = login("majie")
    response = client.get(reverse("hotspots:xlsx"))
    wb = load_workbook(io.BytesIO(response.content))
    grids = wb["网格指标与热点"]
    header = [c.value for c in grids[1]]
    codes = {
        grids.cell(row=r, column=header.index("网格编码") + 1).value
        for r in range(2, grids.max_row + 1)
    }
    expected = set(
        Grid.objects.current().filter(community__street=user.street).values_list("code", flat=True)
    )
    assert codes == expected


def test_bad_parameters_on_export_answer_400_in_chinese(client, login):
    login("fenxi")
    response = client.get(reverse("hotspots:pdf"), {"end": "not-a-date"})
    assert response.status_code == 400
    assert "结束日期格式不正确" in response.content.decode()


def test_exports_leave_an_audit_entry_with_what_they_cover(client, login):
    from accounts.models import AuditEntry

    login("fenxi")
    for name, fmt in (("hotspots:xlsx", "xlsx"), ("hotspots:pdf", "pdf")):
        before = AuditEntry.objects.filter(username="fenxi", action="export").count()
        assert client.get(reverse(name), {"start": "2026-06-01"}).status_code == 200
        entries = AuditEntry.objects.filter(username="fenxi", action="export")
        assert entries.count() == before + 1
        entry = entries.latest("pk")
        assert entry.detail["report"] == "hotspots"
        assert entry.detail["format"] == fmt
        assert entry.detail["period"][0] == "2026-06-01"
