"""The intake form, the case pages and the phone page: they work, mask and escape."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases.models import Case, Status

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


def png_bytes():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, "PNG")
    return buf.getvalue()


def form_data(point, **extra):
    data = {
        "source": "dispute",
        "category": _category("wage").pk,
        "urgency": "normal",
        "description": "拖欠工资三个月",
        "visitors": 1,
        "lon": f"{point.x:.7f}",
        "lat": f"{point.y:.7f}",
        "crs": "wgs84",
        "applicant_name": "张三",
        "applicant_phone": "13812345678",
        "auto_dispatch": "on",
    }
    data.update(extra)
    return data


def _category(code):
    from cases.models import Category

    return Category.objects.get(code=code)


@pytest.fixture
def no_duplicate(inside):
    """Close the demo's open wage cases near the point, so the form registers at once.

    The demo's case history is dated relative to the day it was loaded, so whether one of
    its wage cases lies within 100 m and 30 days of this point changes from day to day.
    The duplicate check itself has its own tests.
    """
    from accounts.models import User
    from cases import selectors
    from cases.models import Category

    district_user = User.objects.get(username="zhihui")
    near = selectors.duplicates(
        category=Category.objects.get(code="wage"), location=inside, user=district_user
    )
    Case.objects.filter(pk__in=[c.pk for c in near]).update(status=Status.CLOSED)


def test_the_intake_form_shows_a_map_from_local_assets(client, login):
    login("shouli")
    html = client.get(reverse("cases:new")).content.decode()
    assert "vendor/leaflet/leaflet.js" in html and "intake-map" in html
    assert "grid-data" in html
    from tests.test_pages import assert_no_outside_assets

    assert_no_outside_assets(html)


def test_the_intake_form_registers_accepts_and_dispatches(client, login, inside, no_duplicate):
    login("shouli")
    response = client.post(reverse("cases:new"), form_data(inside))
    assert response.status_code == 302
    case = Case.objects.latest("id")
    assert response.url == reverse("cases:detail", args=[case.pk])
    assert case.status == Status.DISPATCHED and case.grid_id
    party = case.parties.get()
    assert party.phone_masked == "138****5678"
    html = client.get(response.url).content.decode()
    assert "138****5678" in html and "13812345678" not in html
    assert "张*" in html and "张三" not in html


def test_the_intake_form_takes_gcj02_coordinates(client, login, inside, no_duplicate):
    from layers.crs import wgs84_to_gcj02

    login("shouli")
    x, y = wgs84_to_gcj02(inside.x, inside.y)
    data = form_data(inside, lon=f"{float(x):.8f}", lat=f"{float(y):.8f}", crs="gcj02")
    client.post(reverse("cases:new"), data)
    case = Case.objects.latest("id")
    assert case.location.distance(inside) < 1e-6


def test_the_intake_form_takes_a_rental_house(client, login):
    from layers.models import RentalHouse

    login("shouli")
    house = RentalHouse.objects.filter(grid__isnull=False).order_by("id").first()
    data = form_data(house.location, lon="", lat="", rental_house=house.code)
    client.post(reverse("cases:new"), data)
    case = Case.objects.latest("id")
    assert case.rental_house == house and case.grid_id == house.grid_id
    assert case.address == house.address


def test_the_intake_form_explains_bad_input_in_chinese(client, login, inside):
    login("shouli")
    data = form_data(inside, lon="abc", applicant_phone="12345")
    before = Case.objects.count()
    html = client.post(reverse("cases:new"), data).content.decode()
    assert Case.objects.count() == before
    assert "坐标为空或不是数字" in html
    assert "电话号码格式不正确" in html


def test_duplicates_are_shown_before_saving_and_can_be_merged(client, login, inside, make_case):
    original = make_case(status=Status.ACCEPTED, source="petition", visitors=2)
    login("shouli")
    data = form_data(inside, source="petition", visitors=3)
    before = Case.objects.count()
    html = client.post(reverse("cases:new"), data).content.decode()
    assert Case.objects.count() == before
    assert "疑似重复" in html and original.number in html
    response = client.post(reverse("cases:new"), {**data, "merge_into": original.pk})
    assert response.status_code == 302
    later = Case.objects.latest("id")
    assert later.status == Status.MERGED and later.merged_into == original
    original.refresh_from_db()
    assert original.visitors == 5
    # Or register anyway.
    client.post(reverse("cases:new"), {**data, "confirm": "1"})
    assert Case.objects.latest("id").status == Status.DISPATCHED


def test_an_attachment_of_the_wrong_type_or_size_is_refused(client, login, inside, settings):
    login("shouli")
    fake = SimpleUploadedFile("photo.png", b"MZ\x90\x00 not an image", "image/png")
    html = client.post(reverse("cases:new"), {**form_data(inside), "attachments": fake})
    assert "类型不允许" in html.content.decode()
    from cases import services

    big = SimpleUploadedFile(
        "big.png", png_bytes() + b"\0" * (services.MAX_ATTACHMENT_BYTES + 1), "image/png"
    )
    html = client.post(reverse("cases:new"), {**form_data(inside), "attachments": big})
    assert "超过" in html.content.decode()


def test_a_photo_is_stored_and_served_to_those_who_may_see_the_case(
    client, login, inside, no_duplicate
):
    login("shouli")
    photo = SimpleUploadedFile("现场.png", png_bytes(), "image/png")
    client.post(reverse("cases:new"), {**form_data(inside), "attachments": photo})
    attachment = Case.objects.latest("id").attachments.get()
    assert attachment.content_type == "image/png"
    response = client.get(reverse("cases:attachment", args=[attachment.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    login("renshe")  # a department that the case was not dispatched to
    assert client.get(reverse("cases:attachment", args=[attachment.pk])).status_code == 404


def test_script_in_a_description_shows_as_text_on_every_page(client, login, make_case, clerk):
    from cases import services

    case = make_case(description=XSS, title=XSS)
    services.case_accept(case=case, by=clerk, auto_dispatch=True)
    services.case_add_note(case=case, by=clerk, note=XSS)
    login("wangge")
    pages = [
        reverse("cases:detail", args=[case.pk]),
        reverse("cases:mobile"),
        reverse("cases:mobile-case", args=[case.pk]),
    ]
    login("shouli")
    pages_desk = [
        reverse("cases:list") + "?tab=all&q=alert",
        reverse("cases:detail", args=[case.pk]),
    ]
    for url in pages_desk:
        html = client.get(url).content.decode()
        assert XSS not in html, url
        assert "&lt;script&gt;" in html, url
    login("wangge")
    for url in pages:
        html = client.get(url).content.decode()
        assert XSS not in html, url
        assert "&lt;script&gt;" in html, url


def test_the_grid_worker_accepts_notes_and_resolves_on_the_phone(client, login, make_case, clerk):
    from cases import services

    case = make_case()
    services.case_accept(case=case, by=clerk, auto_dispatch=True)
    user = login("wangge")
    assert case.assignments.get(active=True, role="lead").worker.user == user
    html = client.get(reverse("cases:mobile")).content.decode()
    assert case.number in html and 'name="viewport"' in html
    url = reverse("cases:mobile-case", args=[case.pk])
    html = client.get(url).content.decode()
    assert "接单" in html
    back = {"next": url}
    client.post(reverse("cases:action", args=[case.pk, "start"]), {"version": case.version, **back})
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS
    photo = SimpleUploadedFile("scene.jpg", b"\xff\xd8\xff\xe0" + b"0" * 100, "image/jpeg")
    client.post(
        reverse("cases:note", args=[case.pk]), {"note": "已到现场", "photos": photo, **back}
    )
    assert case.attachments.count() == 1
    assert case.events.filter(action="note").exists()
    response = client.post(
        reverse("cases:action", args=[case.pk, "resolve"]),
        {"version": case.version, "note": "已协调发放", **back},
    )
    assert response.url == url
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and case.resolved_level == "grid"


def test_a_grid_worker_may_not_close_or_act_on_cases_not_his(client, login, make_case):
    case = make_case(status=Status.CALLED_BACK)
    login("wangge")
    response = client.post(
        reverse("cases:action", args=[case.pk, "close"]), {"version": case.version}
    )
    assert response.status_code == 403


def test_a_stale_form_tells_the_user_the_case_changed(client, login, make_case, clerk):
    from cases import services

    case = make_case(status=Status.ACCEPTED)
    stale = case.version
    services.case_dispatch(case=case, by=clerk)
    login("shouli")
    response = client.post(
        reverse("cases:action", args=[case.pk, "dispatch"]), {"version": stale}, follow=True
    )
    assert "已被他人修改" in response.content.decode()


@pytest.mark.parametrize("name", ["cases:list", "cases:new", "cases:notifications", "cases:mobile"])
def test_case_pages_answer_and_send_anonymous_users_to_login(client, login, name):
    assert client.get(reverse(name)).status_code == 302
    login("zhihui")
    assert client.get(reverse(name)).status_code == 200


def test_an_analyst_cannot_register(client, login):
    login("fenxi")
    assert client.get(reverse("cases:new")).status_code == 403
