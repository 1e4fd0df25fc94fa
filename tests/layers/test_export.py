import csv
import io
import json

import pytest

from gridmap import pii
from layers.models import Person


def download(client, layer, fmt):
    response = client.get("/layers/export/", {"layer": layer, "format": fmt})
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"].startswith("attachment")
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_persons_csv_is_masked_and_limited_to_the_users_area(client, login):
    login("chuanfang")
    body = download(client, "persons", "csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == Person.objects.filter(community__name="船房社区").count()
    assert {r["community"] for r in rows} == {"船房社区"}
    sample = rows[0]
    assert "*" in sample["id_number"] and "*" in sample["name"]
    person = Person.objects.filter(community__name="船房社区").order_by("pk").first()
    clear = pii.decrypt(bytes(person.id_number_cipher))
    assert clear not in body


@pytest.mark.django_db
def test_an_export_is_audited(client, login):
    from accounts.models import AuditEntry

    login("chuanfang")
    download(client, "rentals", "csv")
    entry = AuditEntry.objects.filter(action="export").latest("pk")
    assert entry.detail["layer"] == "rentals"


@pytest.mark.django_db
@pytest.mark.parametrize("layer", ["grids", "rentals", "cases"])
def test_geojson_export_is_a_feature_collection(client, login, layer):
    login("chuanfang")
    data = json.loads(download(client, layer, "geojson"))
    assert data["type"] == "FeatureCollection" and data["features"]
    assert data["features"][0]["geometry"]["type"] in ("Point", "MultiPolygon")


@pytest.mark.django_db
def test_geopackage_and_xlsx_exports(client, login, tmp_path):
    import openpyxl
    import pyogrio

    login("chuanfang")
    path = tmp_path / "g.gpkg"
    path.write_bytes(download(client, "grids", "gpkg"))
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == 48 and set(frame["community"]) == {"船房社区"}
    path = tmp_path / "r.xlsx"
    path.write_bytes(download(client, "rentals", "xlsx"))
    sheet = openpyxl.load_workbook(path, read_only=True).active
    header = next(sheet.iter_rows(values_only=True))
    assert "landlord_phone" in header


@pytest.mark.django_db
def test_an_unknown_format_is_a_clear_400(client, login):
    login("chuanfang")
    response = client.get("/layers/export/", {"layer": "persons", "format": "shp"})
    assert response.status_code == 400 and "unsupported format" in response.content.decode()
