import pytest

from cases.models import Case
from layers.importers import run_import
from tests.layers.conftest import write_csv

HEADER = ["类别", "来源", "描述", "地址", "登记时间", "经度", "纬度"]


@pytest.mark.django_db
def test_cases_import_by_category_name_or_code_and_reimport_changes_nothing(
    tmp_path, inside, chuanfang_grids
):
    lon, lat = inside(2)
    rows = [
        ["劳资纠纷", "12345", "拖欠工资导入测试", "船房1号", "2026-03-02 09:30", lon, lat],
        ["noise", "网格巡查", "夜间施工噪音导入测试", "船房2号", "2026/3/3 21:00", lon, lat],
    ]
    path = write_csv(tmp_path / "c.csv", HEADER, rows)
    report = run_import("cases", path)
    assert report.committed, (report.message, report.errors)
    wage = Case.objects.get(description="拖欠工资导入测试")
    assert wage.category.code == "wage" and wage.source == "hotline_12345"
    assert wage.grid == chuanfang_grids[2] and wage.level == "community"
    assert wage.status == "registered" and wage.deadline > wage.reported_at
    assert wage.number.startswith("XS20260302")
    assert wage.events.filter(action="register").exists()
    again = run_import("cases", path)
    assert again.counts["inserted"] == 0 and again.counts["unchanged"] == 2


@pytest.mark.django_db
def test_an_unknown_category_is_reported(tmp_path, inside):
    lon, lat = inside(0)
    path = write_csv(tmp_path / "c.csv", HEADER, [["外星人", "", "x", "", "2026-03-02", lon, lat]])
    report = run_import("cases", path)
    assert not report.committed
    assert "unknown category" in report.errors[0][2]
