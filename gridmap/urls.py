from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as account_views
from gridmap import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("", include("cases.kpi_urls")),
    path("", include("cases.urls")),
    path("", include("gridmap.map_urls")),
    path("analysis/hotspots/", include("cases.hotspots.urls")),
    path("", include("interop.urls")),
    path("", include("layers.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

# A database outage anywhere in a request answers 503 with a clear message, not 500.
handler500 = "gridmap.outage.server_error"
