"""URLs of the KPI dashboard, its XLSX export and the KPI API."""

from django.urls import path

from cases import kpi_api, kpi_views

urlpatterns = [
    path("kpis/", kpi_views.dashboard, name="kpi-dashboard"),
    path("kpis/export.xlsx", kpi_views.export_xlsx, name="kpi-export"),
    path("api/v1/kpis/", kpi_api.KpiView.as_view(), name="api-kpis"),
]
