import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from layers import services
from layers.models import ImportJob, Person
from tests.layers.conftest import id_number


@pytest.fixture
def inline_jobs(monkeypatch):
    monkeypatch.setattr(services, "RUN_JOBS_INLINE", True)


def csv_file(inside, rows=2, bad=False):
    lines = ["姓名,身份证号,经度,纬度"]
    for i in range(rows):
        lon, lat = inside(i)
        lines.append(f"上传{i},{id_number(100 + i)},{'x' if bad and i == 0 else lon},{lat}")
    return SimpleUploadedFile("people.csv", "\n".join(lines).encode(), content_type="text/csv")


@pytest.mark.django_db
def test_only_administrators_may_import(client, login):
    login("zhihui")
    assert client.get("/layers/import/").status_code == 403


@pytest.mark.django_db
def test_upload_runs_the_import_and_reports_progress(client, login, inside, inline_jobs):
    login("admin")
    response = client.post(
        "/layers/import/", {"kind": "persons", "file": csv_file(inside), "crs": "wgs84"}
    )
    assert response.status_code == 302
    job = ImportJob.objects.latest("pk")
    status = client.get(f"/layers/import/{job.pk}/status").json()
    assert status["status"] == "done" and status["percent"] == 100
    assert status["counts"]["inserted"] == 2
    assert Person.objects.filter(name__startswith="上传").count() == 2
    assert client.get(f"/layers/import/{job.pk}/").status_code == 200


@pytest.mark.django_db
def test_a_failed_upload_offers_the_error_report(client, login, inside, inline_jobs):
    login("admin")
    client.post("/layers/import/", {"kind": "persons", "file": csv_file(inside, bad=True)})
    job = ImportJob.objects.latest("pk")
    assert job.status == "failed" and job.error_count == 1
    report = client.get(f"/layers/import/{job.pk}/errors.csv")
    assert report["Content-Disposition"].startswith("attachment")
    assert "坐标为空或不是数字" in report.content.decode("utf-8-sig")
    assert not Person.objects.filter(name__startswith="上传").exists()


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused(client, login, inside, settings, inline_jobs):
    settings.MAX_UPLOAD_BYTES = 10
    login("admin")
    response = client.post("/layers/import/", {"kind": "persons", "file": csv_file(inside)})
    assert response.status_code == 200 and "file too large" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_import_data_command(tmp_path, inside):
    from django.core.management import call_command

    path = tmp_path / "r.csv"
    lon, lat = inside(0)
    path.write_text(
        f"房屋编号,地址,房东,房东电话,房间数,经度,纬度\nCMD-1,船房1号,张三,13900001111,4,{lon},{lat}\n"
    )
    call_command("import_data", "rentals", str(path), verbosity=0)
    from layers.models import RentalHouse

    house = RentalHouse.objects.get(code="CMD-1")
    assert house.landlord_phone_masked == "139****1111" and house.rooms == 4 and house.grid_id


# --- the upload is checked before any job is written --------------------------------------

MZ = b"MZ\x90\x00" * 64  # the start of a Windows executable


def a_zip(**members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name.replace("__", "/"), data)
    return buf.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, name, content, message",
    [
        ("rentals", "rentals.csv", MZ, "不是 CSV 表格"),
        ("persons", "people.csv", bytes(range(256)) * 4, "不是 CSV 表格"),
        ("rentals", "rentals.exe", b"a,b\n1,2\n", "只接受 CSV 或 XLSX 文件，不接受“.exe”"),
        ("rentals", "x.zip", b"PK\x03\x04garbage", "只接受 CSV 或 XLSX 文件，不接受“.zip”"),
        ("cases", "cases.geojson", b'{"type": "FeatureCollection"}', "只接受 CSV 或 XLSX"),
        ("persons", "people", b"a,b\n1,2\n", "只接受 CSV 或 XLSX"),
        ("grids", "grids.csv", b"code,name\n1,2\n", "只接受 GeoJSON、zip 压缩的 Shapefile"),
        ("persons", "people.xlsx", b"a,b\n1,2\n", "不是 Excel 工作簿"),
        ("persons", "people.xlsx", b"PK\x03\x04garbage", "不是 Excel 工作簿"),
        ("persons", "people.xlsx", a_zip(word__document_xml="<w/>"), "不是 Excel 工作簿"),
        ("persons", "people.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + MZ, "旧版 Excel"),
        ("persons", "people.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + MZ, "旧版 Excel"),
        ("persons", "people.csv", a_zip(xl__workbook_xml="<x/>"), "zip 压缩包"),
        ("grids", "grids.zip", b"PK\x03\x04garbage", "不是 zip 压缩的 Shapefile"),
        ("grids", "grids.zip", a_zip(readme_txt="hello"), "不是 zip 压缩的 Shapefile"),
        ("grids", "grids.zip", a_zip(g_shp=MZ, g_dbf=MZ), "不是 zip 压缩的 Shapefile"),
        ("areas", "areas.gpkg", b"a,b\n1,2\n", "不是 GeoPackage"),
        ("areas", "areas.geojson", MZ, "不是 GeoJSON 文件"),
        ("grids", "grids.json", b"code,name\n1,2\n", "不是 GeoJSON 文件"),
    ],
)
def test_a_file_that_does_not_fit_its_kind_is_refused_on_the_form(
    client, login, settings, tmp_path, kind, name, content, message
):
    settings.MEDIA_ROOT = tmp_path
    login("admin")
    upload = SimpleUploadedFile(name, content)
    response = client.post("/layers/import/", {"kind": kind, "file": upload, "crs": "wgs84"})
    page = response.content.decode()
    assert response.status_code == 200, response.get("Location")
    assert message in page, page[page.find("text-danger") - 200 :][:800]
    assert not ImportJob.objects.exists()
    assert not list(tmp_path.rglob("*"))  # the file was not kept either


def big_gbk_csv(inside, odd):
    """Return a GBK persons CSV over 256 KB whose 256 KB sample ends inside a character."""
    from layers.importers.files import _SAMPLE_BYTES

    lon, lat = inside(0)
    header = "姓名,身份证号,经度,纬度,备注\n".encode("gbk")
    rows = []
    size = len(header)
    n = 0
    while size < _SAMPLE_BYTES + 1000:
        number = id_number(n % 1000, birth=f"19{80 + n // 1000}0307")
        row = f"上传{n},{number},{lon},{lat},船房社区出租房屋住户\n".encode("gbk")
        rows.append(row)
        size += len(row)
        n += 1
    # Shift by one ASCII byte until the sample cuts a double-byte character (or does not):
    # within one row's length of padding, the cut meets both cases whatever the row holds.
    for pad in range(len(rows[-1]) + 1):
        candidate = header[:-1] + b" " * pad + b"\n" + b"".join(rows)
        cut = candidate[:_SAMPLE_BYTES]
        try:
            cut.decode("gbk")
            cuts_a_character = False
        except UnicodeDecodeError:
            cuts_a_character = True
        if cuts_a_character == odd:
            return candidate
    raise AssertionError("no padding gives the wanted cut")


def real_xlsx():
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"姓名": ["张三"], "身份证号": [id_number(7)]}).to_excel(buf, index=False)
    return buf.getvalue()


def real_layers(tmp_path, chuanfang_grids):
    """Return GeoPackage, zipped shapefile and GeoJSON bytes of two real grids."""
    import geopandas as gpd
    import shapely

    grids = chuanfang_grids[:2]
    frame = gpd.GeoDataFrame(
        {"code": [g.code for g in grids], "name": [g.name for g in grids]},
        geometry=[shapely.from_wkb(bytes(g.geom.wkb)) for g in grids],
        crs="EPSG:4326",
    )
    work = tmp_path / "layers"
    work.mkdir()
    frame.to_file(work / "grids.gpkg", driver="GPKG")
    frame.to_file(work / "grids.geojson", driver="GeoJSON")
    (work / "shp").mkdir()
    frame.to_file(work / "shp" / "grids.shp", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in (work / "shp").iterdir():
            z.write(f, f"网格/{f.name}")
    return {
        "grids.gpkg": (work / "grids.gpkg").read_bytes(),
        "grids.geojson": (work / "grids.geojson").read_bytes(),
        "grids.zip": buf.getvalue(),
    }


@pytest.mark.django_db
def test_every_accepted_format_passes_the_upload_check(
    client, login, settings, tmp_path, inside, chuanfang_grids
):
    settings.MEDIA_ROOT = tmp_path / "media"
    login("admin")
    layers = real_layers(tmp_path, chuanfang_grids)
    uploads = [
        ("persons", "people.csv", "姓名,身份证号\n张三,1\n".encode()),
        ("persons", "people.csv", "\ufeff姓名,身份证号\n张三,1\n".encode()),
        ("persons", "people.csv", "姓名,身份证号\n张三,1\n".encode("gbk")),
        ("persons", "PEOPLE.CSV", "姓名\t身份证号\r\n张三\t1\r\n".encode("utf-16")),
        ("persons", "people.txt", b"MZ,name\n1,2\n"),  # MZ (民族) may head a column
        ("persons", "big-even.csv", big_gbk_csv(inside, odd=False)),
        ("persons", "big-odd.csv", big_gbk_csv(inside, odd=True)),
        ("persons", "people.xlsx", real_xlsx()),
        ("grids", "grids.gpkg", layers["grids.gpkg"]),
        ("grids", "grids.geojson", layers["grids.geojson"]),
        ("grids", "grids.json", b'\xef\xbb\xbf\n {"type": "FeatureCollection", "features": []}'),
        ("areas", "grids.zip", layers["grids.zip"]),
    ]
    for kind, name, content in uploads:
        upload = SimpleUploadedFile(name, content)
        response = client.post("/layers/import/", {"kind": kind, "file": upload, "crs": "wgs84"})
        assert response.status_code == 302, (name, response.content.decode()[-1500:])
    assert ImportJob.objects.count() == len(uploads)


@pytest.mark.django_db
def test_a_big_gbk_csv_whose_sample_cuts_a_character_imports(
    client, login, settings, tmp_path, inside, inline_jobs
):
    settings.MEDIA_ROOT = tmp_path
    login("admin")
    content = big_gbk_csv(inside, odd=True)
    upload = SimpleUploadedFile("people.csv", content)
    response = client.post("/layers/import/", {"kind": "persons", "file": upload, "crs": "wgs84"})
    assert response.status_code == 302
    job = ImportJob.objects.latest("pk")
    assert job.status == "done", (job.message, job.errors[:3])
