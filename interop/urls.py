"""URLs of the interoperability interfaces: REST layers, OpenAPI, Open311, OGC API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from interop import rest

router = SimpleRouter()
router.register("api/v1/areas/streets", rest.StreetViewSet, basename="api-street")
router.register("api/v1/areas/communities", rest.CommunityViewSet, basename="api-community")
router.register("api/v1/grids", rest.GridViewSet, basename="api-grid")
router.register("api/v1/rental-houses", rest.RentalHouseViewSet, basename="api-rental-house")
router.register("api/v1/persons", rest.PersonViewSet, basename="api-person")

app_name = "interop"

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="interop:schema"), name="docs"),
    path("", include(router.urls)),
]
