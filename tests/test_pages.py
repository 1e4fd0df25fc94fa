"""Every page answers a logged-in user, sends an anonymous one to log in, and stays offline."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

# The pages of the district command centre; tests/test_authorisation_matrix.py covers every
# route for every role.
PAGES = [
    "home",
    "map-wall",
    "kpi-dashboard",
    "cases:list",
    "cases:new",
    "cases:notifications",
    "hotspots:page",
    "layers:unassigned",
    "accounts:audit_log",
]


def admin_pages(user=None):
    """Yield (url, allowed) for every admin changelist and add page."""
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        yield reverse("admin:{}_{}_changelist".format(*info)), True
        # Append-only models (the audit log) offer no add page, even to the administrator.
        may_add = user is None or model_admin.has_add_permission(request)
        yield reverse("admin:{}_{}_add".format(*info)), may_add


@pytest.mark.parametrize("name", PAGES)
def test_page_answers_a_logged_in_user(client, login, name):
    login("zhihui")
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_page_sends_an_anonymous_user_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_every_admin_page_answers_the_administrator(client, login):
    user = login("admin")
    for url, allowed in admin_pages(user):
        assert client.get(url).status_code == (200 if allowed else 403), url


def test_the_audit_log_cannot_be_added_to_in_the_admin(client, login):
    login("admin")
    assert client.get(reverse("admin:accounts_auditentry_add")).status_code == 403


def test_admin_sends_an_anonymous_user_to_login(client):
    for url, _allowed in admin_pages():
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url, url


def test_admin_change_form_of_a_grid_shows_its_map_offline(client, login):
    from layers.models import Grid

    login("admin")
    grid = Grid.objects.current().first()
    html = client.get(reverse("admin:layers_grid_change", args=[grid.pk])).content.decode()
    assert "vendor/ol/ol.js" in html
    assert_no_outside_assets(html)


def assert_no_outside_assets(html):
    """Fail if the page would load a script, style, font or image from another host."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", html)
    refs += re.findall(r"""url\(\s*["']?((?:https?:)?//[^)"']+)""", html)
    assert refs == [], refs
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "unpkg" not in html


def test_home_page_shows_the_district_map_with_local_assets_only(client, login):
    login("zhihui")
    html = client.get(reverse("home")).content.decode()
    assert "folium-map" in html or "L.map(" in html
    from layers.models import Grid

    # Every current grid of the district is drawn (folium escapes the names as \\uXXXX).
    for code in Grid.objects.current().values_list("code", flat=True):
        assert code in html
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert_no_outside_assets(html)


def test_login_page_is_chinese_by_default_and_switches_to_english(client):
    html = client.get(reverse("login")).content.decode()
    assert 'lang="zh-hans"' in html
    assert "登录" in html
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = client.get(reverse("login")).content.decode()
    assert 'lang="en"' in html
    assert "Log in" in html


def test_healthz_reports_the_database(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
