from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("reveal/<slug:kind>/<int:pk>/", views.reveal, name="reveal"),
    path("audit/", views.audit_log, name="audit_log"),
]
