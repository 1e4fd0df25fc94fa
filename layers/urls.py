from django.urls import path

from layers import api, views

app_name = "layers"

urlpatterns = [
    path("api/v1/locate", api.LocateView.as_view(), name="locate"),
    path("api/v1/unassigned", api.UnassignedView.as_view(), name="api_unassigned"),
    path("layers/import/", views.import_upload, name="import"),
    path("layers/import/<int:pk>/", views.import_job, name="import_job"),
    path("layers/import/<int:pk>/status", views.import_job_status, name="import_job_status"),
    path("layers/import/<int:pk>/errors.csv", views.import_job_errors, name="import_job_errors"),
    path("layers/unassigned/", views.unassigned, name="unassigned"),
    path("layers/unassigned/<str:layer>/<int:pk>/", views.relocate, name="relocate"),
    path("layers/export/", views.export, name="export"),
]
