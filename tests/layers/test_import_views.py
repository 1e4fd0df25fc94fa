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
