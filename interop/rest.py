"""REST resources of the map layers: areas, grids, rental houses and persons, as GeoJSON.

Read-only. Every queryset goes through accounts.scoping.scope, so a user (or an API
token's service account) sees only his area. Persons carry masked name, ID number and
phone only: the clear values never leave the database through this API. Cases and their
workflow actions are served by cases/api.py (/api/v1/cases/).

Features are RFC 7946 GeoJSON (WGS84 longitude, latitude). Lists are paginated by
``limit``/``offset`` and filtered by ``in_bbox=min_lon,min_lat,max_lon,max_lat`` (or its
synonym ``bbox``, as OGC API names it).
"""

from collections import OrderedDict

import django_filters
from django.contrib.gis.geos import Polygon
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework_gis.filters import InBBoxFilter
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from accounts.scoping import scope
from gridmap import pii
from gridmap.api import Pagination
from interop.params import ParamError, parse_bbox
from layers.models import Community, Grid, Person, RentalHouse, Street

LAYERS_SCOPE = {"GET": "layers:read"}


class BBoxFilter(InBBoxFilter):
    """in_bbox=min_lon,min_lat,max_lon,max_lat (or bbox=…) with a bilingual message on bad input.

    ``bbox`` is the name OGC API – Features and most GIS clients use; it is read as well, so
    that a client sending it is filtered (or told what is wrong) rather than silently handed
    every feature.
    """

    alias_param = "bbox"

    def get_filter_bbox(self, request):
        params = request.query_params
        given = [name for name in (self.bbox_param, self.alias_param) if name in params]
        if len(given) > 1:
            raise ValidationError(
                {
                    self.alias_param: f"{self.bbox_param} 与 {self.alias_param} 只能给一个 / "
                    f"give either {self.bbox_param} or {self.alias_param}, not both"
                }
            )
        if not given:
            return None
        name = given[0]
        raw = params.get(name)
        if raw == "":
            return None
        try:
            return Polygon.from_bbox(parse_bbox(raw, name))
        except ParamError as exc:
            raise ValidationError({exc.param: exc.message}) from None

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        params[0]["description"] = (
            "范围过滤 / bounding box: in_bbox=min_lon,min_lat,max_lon,max_lat (WGS84)"
        )
        alias = {
            **params[0],
            "name": self.alias_param,
            "description": f"同 {self.bbox_param} / same as {self.bbox_param} "
            "(the OGC API name): bbox=min_lon,min_lat,max_lon,max_lat (WGS84)",
        }
        return [params[0], alias]


class FeaturePagination(Pagination):
    """limit/offset pages of a GeoJSON FeatureCollection, with the total count."""

    default_limit = 100
    max_limit = 1000

    def get_paginated_response(self, data):
        return Response(
            OrderedDict(
                [
                    ("type", "FeatureCollection"),
                    ("count", self.count),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("features", data["features"]),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        # `schema` is the FeatureCollection component of the list serializer (type and
        # features); the page adds the total count and the links.
        page = {
            "type": "object",
            "required": ["count"],
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
            },
        }
        return {"allOf": [schema, page]}


class LayerViewSet(viewsets.ReadOnlyModelViewSet):
    """Base of the read-only layer resources: scoped, bbox-filtered, paginated."""

    token_scopes = LAYERS_SCOPE
    pagination_class = FeaturePagination
    filter_backends = [BBoxFilter, django_filters.rest_framework.DjangoFilterBackend]
    bbox_filter_include_overlapping = True
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return scope(self.request.user, self.base_queryset()).order_by("pk")

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise NotFound("不存在或不在您的辖区内 / not found in your area") from None


# --- areas -------------------------------------------------------------------------------


class StreetSerializer(GeoFeatureModelSerializer):
    district = serializers.CharField(source="district.code", read_only=True)

    class Meta:
        model = Street
        geo_field = "geom"
        fields = ["id", "code", "name", "district"]


class CommunitySerializer(GeoFeatureModelSerializer):
    street = serializers.CharField(source="street.code", read_only=True)
    street_name = serializers.CharField(source="street.name", read_only=True)

    class Meta:
        model = Community
        geo_field = "geom"
        fields = ["id", "code", "name", "kind", "street", "street_name"]


class CommunityFilter(django_filters.FilterSet):
    street = django_filters.CharFilter(
        field_name="street__code", help_text="街道代码 / street code (9 digits)"
    )
    kind = django_filters.ChoiceFilter(choices=Community.Kind.choices)

    class Meta:
        model = Community
        fields = ["street", "kind"]


@extend_schema_view(
    list=extend_schema(summary="街道 / Streets", tags=["areas"]),
    retrieve=extend_schema(summary="街道 / Street", tags=["areas"]),
)
class StreetViewSet(LayerViewSet):
    """Streets (街道) with their boundaries."""

    serializer_class = StreetSerializer
    bbox_filter_field = "geom"

    def base_queryset(self):
        return Street.objects.select_related("district")


@extend_schema_view(
    list=extend_schema(summary="社区 / Communities", tags=["areas"]),
    retrieve=extend_schema(summary="社区 / Community", tags=["areas"]),
)
class CommunityViewSet(LayerViewSet):
    """Communities and villages (社区/村) with their boundaries."""

    serializer_class = CommunitySerializer
    filterset_class = CommunityFilter
    bbox_filter_field = "geom"

    def base_queryset(self):
        return Community.objects.select_related("street")


# --- grids -------------------------------------------------------------------------------


class GridSerializer(GeoFeatureModelSerializer):
    community = serializers.CharField(source="community.code", read_only=True)
    community_name = serializers.CharField(source="community.name", read_only=True)
    street = serializers.CharField(source="community.street.code", read_only=True)

    class Meta:
        model = Grid
        geo_field = "geom"
        fields = [
            "id",
            "code",
            "name",
            "version",
            "valid_from",
            "community",
            "community_name",
            "street",
        ]


class GridFilter(django_filters.FilterSet):
    community = django_filters.CharFilter(
        field_name="community__code", help_text="社区代码 / community code (12 digits)"
    )
    street = django_filters.CharFilter(
        field_name="community__street__code", help_text="街道代码 / street code"
    )
    code = django_filters.CharFilter(help_text="网格编码 / grid code (20 digits)")

    class Meta:
        model = Grid
        fields = ["community", "street", "code"]


@extend_schema_view(
    list=extend_schema(summary="网格（现行边界） / Grids (current boundaries)", tags=["grids"]),
    retrieve=extend_schema(summary="网格 / Grid", tags=["grids"]),
)
class GridViewSet(LayerViewSet):
    """Grids (网格), current boundary versions only."""

    serializer_class = GridSerializer
    filterset_class = GridFilter
    bbox_filter_field = "geom"

    def base_queryset(self):
        return Grid.objects.current().select_related("community", "community__street")


# --- point layers ------------------------------------------------------------------------


class AreaCodesMixin(serializers.Serializer):
    grid = serializers.CharField(source="grid.code", read_only=True, default=None)
    community = serializers.CharField(source="community.code", read_only=True, default=None)
    street = serializers.CharField(source="street.code", read_only=True, default=None)


class RentalHouseSerializer(AreaCodesMixin, GeoFeatureModelSerializer):
    landlord_name = serializers.SerializerMethodField(help_text="房东姓名（脱敏） / masked")
    landlord_phone = serializers.CharField(
        source="landlord_phone_masked", read_only=True, help_text="房东电话（脱敏） / masked"
    )

    class Meta:
        model = RentalHouse
        geo_field = "location"
        fields = [
            "id",
            "code",
            "address",
            "landlord_name",
            "landlord_phone",
            "rooms",
            "tenant_count",
            "overcrowded",
            "three_in_one",
            "fire_hazard",
            "last_inspected",
            "grid",
            "community",
            "street",
        ]

    def get_landlord_name(self, house) -> str:
        return pii.mask_name(house.landlord_name)


class PointFilter(django_filters.FilterSet):
    grid = django_filters.CharFilter(field_name="grid__code", help_text="网格编码 / grid code")
    community = django_filters.CharFilter(
        field_name="community__code", help_text="社区代码 / community code"
    )
    street = django_filters.CharFilter(field_name="street__code", help_text="街道代码 / street")


class RentalHouseFilter(PointFilter):
    class Meta:
        model = RentalHouse
        fields = ["grid", "community", "street", "overcrowded", "three_in_one", "fire_hazard"]


class PersonFilter(PointFilter):
    kind = django_filters.ChoiceFilter(choices=Person.Kind.choices)

    class Meta:
        model = Person
        fields = ["grid", "community", "street", "kind", "residence_permit"]


@extend_schema_view(
    list=extend_schema(summary="出租房屋 / Rental houses", tags=["rental houses"]),
    retrieve=extend_schema(summary="出租房屋 / Rental house", tags=["rental houses"]),
)
class RentalHouseViewSet(LayerViewSet):
    """Rental houses (出租房屋); landlord name and phone masked."""

    bulk_read = "rentals"  # homes and their landlords: audited, rate-limited lists
    serializer_class = RentalHouseSerializer
    filterset_class = RentalHouseFilter
    bbox_filter_field = "location"
    bbox_filter_include_overlapping = False

    def base_queryset(self):
        return RentalHouse.objects.defer("landlord_phone_cipher").select_related(
            "grid", "community", "street"
        )


class PersonSerializer(AreaCodesMixin, GeoFeatureModelSerializer):
    name = serializers.SerializerMethodField(help_text="姓名（脱敏） / masked name")
    id_number = serializers.CharField(
        source="id_number_masked", read_only=True, help_text="身份证号（脱敏） / masked ID"
    )
    phone = serializers.CharField(
        source="phone_masked", read_only=True, help_text="电话（脱敏） / masked phone"
    )
    rental_house = serializers.CharField(source="rental_house.code", read_only=True, default=None)

    class Meta:
        model = Person
        geo_field = "location"
        fields = [
            "id",
            "name",
            "id_number",
            "phone",
            "kind",
            "origin",
            "arrival_date",
            "residence_permit",
            "registered_with_police",
            "last_verified",
            "rental_house",
            "grid",
            "community",
            "street",
        ]

    def get_name(self, person) -> str:
        return pii.mask_name(person.name)


@extend_schema_view(
    list=extend_schema(summary="实有人口（脱敏） / Persons (masked)", tags=["persons"]),
    retrieve=extend_schema(summary="实有人口（脱敏） / Person (masked)", tags=["persons"]),
)
class PersonViewSet(LayerViewSet):
    """The actual population (实有人口); name, ID number and phone masked, never clear."""

    bulk_read = "persons"  # audited, rate-limited lists (accounts/bulk_reads.py)
    serializer_class = PersonSerializer
    filterset_class = PersonFilter
    bbox_filter_field = "location"
    bbox_filter_include_overlapping = False

    def base_queryset(self):
        # The ciphers never leave the database through this API.
        return Person.objects.defer("id_number_cipher", "phone_cipher").select_related(
            "grid", "community", "street", "rental_house"
        )
