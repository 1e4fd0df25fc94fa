"""URLs of the hotspot analysis page, its JSON data and the meeting report exports."""

from django.urls import path

from cases.hotspots import views

app_name = "hotspots"

urlpatterns = [
    path("", views.page, name="page"),
    path("data.json", views.data, name="data"),
    path("report.xlsx", views.export_xlsx, name="xlsx"),
    path("report.pdf", views.export_pdf, name="pdf"),
]
