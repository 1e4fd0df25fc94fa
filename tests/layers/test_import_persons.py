import pytest

from gridmap import pii
from layers.importers import run_import
from layers.models import Person
from tests.layers.conftest import id_number, write_csv

HEADER = ["姓名", "身份证号", "联系电话", "地址", "经度", "纬度", "人口类型"]


def rows_for(inside, n=3, start=0):
    out = []
    for i in range(start, start + n):
        lon, lat = inside(i % 4)
        out.append([f"测试{i}", id_number(i), f"1381234{i:04d}", f"船房{i}号", lon, lat, "流动"])
    return out


@pytest.mark.django_db
def test_persons_import_assigns_grids_and_stores_personal_data_encrypted(
    tmp_path, inside, chuanfang_grids
):
    path = write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 3))
    report = run_import("persons", path)
    assert report.committed, report.message
    assert report.counts["inserted"] == 3
    person = Person.objects.get(id_number_digest=pii.digest(id_number(0)))
    assert person.grid == chuanfang_grids[0]
    assert person.community.name == "船房社区"
    assert person.id_number_masked == pii.mask_id_number(id_number(0))
    assert person.phone_masked == "138****0000"
    assert pii.decrypt(bytes(person.id_number_cipher)) == id_number(0)
    assert person.kind == "floating"


@pytest.mark.django_db
def test_reimporting_the_same_file_changes_nothing(tmp_path, inside):
    path = write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 3))
    assert run_import("persons", path).committed
    before = {p.pk: p.updated_at for p in Person.objects.filter(name__startswith="测试")}
    again = run_import("persons", path)
    assert again.committed
    assert again.counts["inserted"] == 0 and again.counts["updated"] == 0
    assert again.counts["unchanged"] == 3
    after = {p.pk: p.updated_at for p in Person.objects.filter(name__startswith="测试")}
    assert after == before


@pytest.mark.django_db
def test_a_changed_row_is_updated_in_place(tmp_path, inside):
    rows = rows_for(inside, 2)
    assert run_import("persons", write_csv(tmp_path / "a.csv", HEADER, rows)).committed
    rows[1][3] = "新地址"
    report = run_import("persons", write_csv(tmp_path / "b.csv", HEADER, rows))
    assert report.counts["updated"] == 1 and report.counts["unchanged"] == 1
    assert Person.objects.get(id_number_digest=pii.digest(id_number(1))).address == "新地址"


@pytest.mark.django_db
def test_lookup_by_exact_id_number_works_with_lower_case_x(tmp_path, inside):
    number = next(id_number(i) for i in range(1000) if id_number(i).endswith("X"))
    lon, lat = inside(0)
    path = write_csv(
        tmp_path / "x.csv", HEADER, [["小明", number.lower(), "", "", lon, lat, "户籍"]]
    )
    assert run_import("persons", path).committed
    assert Person.objects.get(id_number_digest=pii.digest(number)).kind == "registered"


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_excel_csv_in_gbk_or_with_a_bom_is_read(tmp_path, inside, encoding):
    path = write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 2), encoding=encoding)
    report = run_import("persons", path)
    assert report.committed, report.message
    assert Person.objects.filter(name="测试1", address="船房1号").exists()


@pytest.mark.django_db
def test_english_headers_and_xlsx_are_accepted(tmp_path, inside):
    import pandas as pd

    lon, lat = inside(1)
    frame = pd.DataFrame(
        [["Li Lei", id_number(7), "13900001111", "x", lon, lat, "floating"]],
        columns=["Name", "ID Number", "Phone", "Address", "Longitude", "Latitude", "Kind"],
    )
    path = tmp_path / "p.xlsx"
    frame.to_excel(path, index=False)
    report = run_import("persons", path)
    assert report.committed, report.message


@pytest.mark.django_db
def test_missing_required_columns_are_named(tmp_path):
    path = write_csv(tmp_path / "p.csv", ["姓名", "地址"], [["张三", "x"]])
    report = run_import("persons", path)
    assert not report.committed
    assert "身份证号" in report.message and "missing required columns" in report.message
    assert "经度" in report.message


@pytest.mark.django_db
def test_the_same_id_number_twice_in_a_file_is_reported_and_nothing_is_written(tmp_path, inside):
    rows = rows_for(inside, 3)
    rows[2][1] = rows[0][1]
    report = run_import("persons", write_csv(tmp_path / "p.csv", HEADER, rows))
    assert not report.committed
    assert report.errors == [[4, "身份证号 id_number", "与第 2 行重复 / duplicate of row 2"]]
    assert not Person.objects.filter(name__startswith="测试").exists()


@pytest.mark.django_db
def test_a_wrong_check_digit_is_reported(tmp_path, inside):
    rows = rows_for(inside, 2)
    good = rows[1][1]
    rows[1][1] = good[:17] + ("0" if good[17] != "0" else "1")
    report = run_import("persons", write_csv(tmp_path / "p.csv", HEADER, rows))
    assert report.errors == [
        [3, "身份证号 id_number", "身份证号校验位错误 / ID number check digit is wrong"]
    ]
    assert not report.committed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lon", "lat", "reason"),
    [
        ("", "", "empty"),
        ("NaN", "nan", "empty"),
        ("东经102", "北纬25", "empty"),
        ("0", "0", "(0,0)"),
        ("24.98", "102.67", "swapped"),
        ("116.39", "39.90", "outside the district"),
    ],
)
def test_bad_coordinates_are_reported_never_stored(tmp_path, inside, lon, lat, reason):
    rows = rows_for(inside, 2)
    rows[0][4], rows[0][5] = lon, lat
    report = run_import("persons", write_csv(tmp_path / "p.csv", HEADER, rows))
    assert not report.committed
    assert len(report.errors) == 1
    row, column, message = report.errors[0]
    assert row == 2 and "经度" in column and reason in message
    assert not Person.objects.filter(name__startswith="测试").exists()


@pytest.mark.django_db
def test_partial_keeps_the_good_rows_and_reports_the_rest(tmp_path, inside):
    rows = rows_for(inside, 3)
    rows[1][4] = "abc"
    report = run_import("persons", write_csv(tmp_path / "p.csv", HEADER, rows), partial=True)
    assert report.committed
    assert report.counts["inserted"] == 2 and report.counts["rejected"] == 1
    assert set(Person.objects.filter(name__startswith="测试").values_list("name", flat=True)) == {
        "测试0",
        "测试2",
    }
    assert "行号 row" in report.errors_csv() and "\n3," in report.errors_csv()


@pytest.mark.django_db
def test_dry_run_writes_nothing(tmp_path, inside):
    report = run_import(
        "persons", write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 2)), dry_run=True
    )
    assert not report.committed and report.counts["would_inserted"] == 2
    assert not Person.objects.filter(name__startswith="测试").exists()


@pytest.mark.django_db
def test_an_unknown_crs_is_refused(tmp_path, inside):
    report = run_import(
        "persons", write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 1)), crs="beijing54"
    )
    assert not report.committed and "unknown CRS" in report.message


@pytest.mark.django_db
def test_gcj02_input_is_converted_before_assignment(tmp_path, inside, chuanfang_grids):
    from layers.crs import wgs84_to_gcj02

    lon, lat = inside(5)
    glon, glat = wgs84_to_gcj02(lon, lat)
    rows = [["测试高德坐标", id_number(50), "", "", f"{glon:.8f}", f"{glat:.8f}", "流动"]]
    report = run_import("persons", write_csv(tmp_path / "p.csv", HEADER, rows), crs="gcj02")
    assert report.committed, report.errors
    person = Person.objects.get(name="测试高德坐标")
    assert person.grid == chuanfang_grids[5]
    assert abs(person.location.x - lon) < 1e-6 and abs(person.location.y - lat) < 1e-6


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused(tmp_path, inside, settings):
    settings.MAX_UPLOAD_BYTES = 100
    path = write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 5))
    report = run_import("persons", path)
    assert not report.committed and "file too large" in report.message


@pytest.mark.django_db
def test_a_point_outside_every_grid_is_kept_unassigned(tmp_path, inside):
    # Inside the district box but west of every grid.
    rows = [["区外", id_number(60), "", "", "102.30", "24.70", "流动"]]
    report = run_import("persons", write_csv(tmp_path / "p.csv", HEADER, rows))
    assert report.committed
    person = Person.objects.get(name="区外")
    assert person.grid is None


def _index_names(table):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        indexes = {r[0] for r in cursor.fetchall()}
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass", [table])
        return indexes | {r[0] for r in cursor.fetchall()}


@pytest.mark.django_db
def test_the_bulk_path_restores_every_index_and_constraint(tmp_path, inside, chuanfang_grids):
    before = _index_names("layers_person")
    path = write_csv(tmp_path / "p.csv", HEADER, rows_for(inside, 5))
    report = run_import("persons", path, bulk=True)
    assert report.committed, report.message
    assert _index_names("layers_person") == before
    assert Person.objects.filter(name__startswith="测试", grid=chuanfang_grids[0]).exists()
