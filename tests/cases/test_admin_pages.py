"""Every admin page of the cases app answers the administrator."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_cases_admin_pages(client, login):
    login("admin")
    for model in admin.site._registry:
        if model._meta.app_label != "cases":
            continue
        for kind in ("changelist", "add"):
            url = reverse(f"admin:cases_{model._meta.model_name}_{kind}")
            assert client.get(url).status_code == 200, url
    from cases.models import Case

    c = Case.objects.first()
    assert client.get(reverse("admin:cases_case_change", args=[c.pk])).status_code == 200
