"""URLs of the interoperability interfaces: REST layers, OpenAPI, Open311, OGC API."""

from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from interop import ogcapi, open311, rest, schema

router = SimpleRouter()
router.register("api/v1/areas/streets", rest.StreetViewSet, basename="api-street")
router.register("api/v1/areas/communities", rest.CommunityViewSet, basename="api-community")
router.register("api/v1/grids", rest.GridViewSet, basename="api-grid")
router.register("api/v1/rental-houses", rest.RentalHouseViewSet, basename="api-rental-house")
router.register("api/v1/persons", rest.PersonViewSet, basename="api-person")

app_name = "interop"

urlpatterns = [
    # Public locally; with GRIDMAP_ENV=production only for users and tokens (API_DOCS_PUBLIC).
    path("api/schema/", schema.SchemaView.as_view(), name="schema"),
    path("api/docs/", schema.DocsView.as_view(url_name="interop:schema"), name="docs"),
    path("", include(router.urls)),
    # Open311 GeoReport v2: every resource as .json and .xml.
    re_path(r"^open311/v2/discovery\.(?P<fmt>\w+)$", open311.discovery, name="open311-discovery"),
    re_path(r"^open311/v2/services\.(?P<fmt>\w+)$", open311.service_list, name="open311-services"),
    re_path(
        r"^open311/v2/services/(?P<service_code>[^/]+?)\.(?P<fmt>\w+)$",
        open311.service_definition,
        name="open311-service",
    ),
    re_path(r"^open311/v2/requests\.(?P<fmt>\w+)$", open311.requests, name="open311-requests"),
    re_path(
        r"^open311/v2/requests/(?P<request_id>[^/]+?)\.(?P<fmt>\w+)$",
        open311.request_detail,
        name="open311-request",
    ),
    # OGC API – Features: clients build URLs with and without a trailing slash.
    re_path(r"^ogcapi/?$", ogcapi.LandingPage.as_view(), name="ogc-landing"),
    re_path(r"^ogcapi/conformance/?$", ogcapi.Conformance.as_view(), name="ogc-conformance"),
    re_path(r"^ogcapi/api/?$", ogcapi.ApiDefinition.as_view(), name="ogc-api"),
    re_path(r"^ogcapi/collections/?$", ogcapi.Collections.as_view(), name="ogc-collections"),
    re_path(
        r"^ogcapi/collections/(?P<collection_id>[^/]+)/?$",
        ogcapi.CollectionDetail.as_view(),
        name="ogc-collection",
    ),
    re_path(
        r"^ogcapi/collections/(?P<collection_id>[^/]+)/items/?$",
        ogcapi.Items.as_view(),
        name="ogc-items",
    ),
    re_path(
        r"^ogcapi/collections/(?P<collection_id>[^/]+)/items/(?P<feature_id>[^/]+)/?$",
        ogcapi.Item.as_view(),
        name="ogc-item",
    ),
    re_path(r"^ogcapi/(?P<rest>.*)$", ogcapi.NotFoundPath.as_view(), name="ogc-not-found"),
]
