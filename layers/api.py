"""REST API of the layers: locate a point, list the points outside every grid."""

import numpy as np
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.scoping import has_role
from gridmap.api import ErrorSerializer
from layers import crs as crs_module
from layers import selectors

UNASSIGNED_ROLES = (Role.DISTRICT,)
# PostgreSQL's OFFSET is a bigint: a larger one would fail in the database.
MAX_OFFSET = 2**63 - 1

# The query parameters of a point (parse_point here; cases.api.point_from).
POINT_PARAMETERS = [
    OpenApiParameter(
        "lon",
        OpenApiTypes.DOUBLE,
        required=True,
        description="经度（webmercator 为 x 米） / longitude (x in metres for webmercator)",
    ),
    OpenApiParameter(
        "lat",
        OpenApiTypes.DOUBLE,
        required=True,
        description="纬度（webmercator 为 y 米） / latitude (y in metres for webmercator)",
    ),
    OpenApiParameter(
        "crs",
        OpenApiTypes.STR,
        enum=list(crs_module.CRS_CHOICES),
        default=crs_module.WGS84,
        description="坐标系 / coordinate reference system: wgs84 and cgcs2000 are stored as "
        "they are, gcj02 (AMap, Tencent, WeChat), bd09 (Baidu) and webmercator are converted. "
        "Also accepted: EPSG:4326, EPSG:4490, EPSG:3857, gcj-02, bd-09.",
    ),
]


def _bad(message):
    return Response({"detail": message}, status=status.HTTP_400_BAD_REQUEST)


def parse_point(params):
    """Return (lon, lat) in WGS84 from query parameters, or raise ValueError with a message."""
    raw_lon, raw_lat = params.get("lon"), params.get("lat")
    if raw_lon in (None, "") or raw_lat in (None, ""):
        raise ValueError("缺少参数 lon 和 lat / the lon and lat parameters are required")
    lon = crs_module.parse_float_array(raw_lon)
    lat = crs_module.parse_float_array(raw_lat)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise ValueError(crs_module.PROBLEM_MESSAGES[crs_module.EMPTY])
    try:
        name = crs_module.parse_crs(params.get("crs") or "wgs84")
    except crs_module.CRSError as exc:
        raise ValueError(str(exc)) from None
    x, y = crs_module.to_storage(lon, lat, name)
    code = str(crs_module.check_coordinates(x, y))
    if code != crs_module.OK:
        raise ValueError(crs_module.PROBLEM_MESSAGES[code])
    return float(x), float(y)


# --- answer shapes: they document the dicts the views build (not used to render them) ---


class LocatedAreaSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class LocatedGridSerializer(LocatedAreaSerializer):
    version = serializers.IntegerField(help_text="边界版本 / boundary version")


class GridWorkerContactSerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField(help_text="工作电话，可能为空 / work phone, may be empty")


class LocateSerializer(serializers.Serializer):
    lon = serializers.FloatField(help_text="WGS84 经度（已转换） / WGS84 longitude (converted)")
    lat = serializers.FloatField(help_text="WGS84 纬度（已转换） / WGS84 latitude (converted)")
    district = LocatedAreaSerializer(allow_null=True)
    street = LocatedAreaSerializer(allow_null=True)
    community = LocatedAreaSerializer(allow_null=True)
    grid = LocatedGridSerializer(allow_null=True, help_text="现行网格 / the current grid")
    workers = GridWorkerContactSerializer(
        many=True, help_text="网格在您辖区内时才列出 / listed only if the grid is in your area"
    )
    workers_visible = serializers.BooleanField()
    detail = serializers.CharField(
        required=False, help_text="仅当该点不在任何网格内 / only when outside every grid"
    )


class UnassignedPointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    community = serializers.CharField(allow_null=True, help_text="社区名称 / community name")
    street = serializers.CharField(allow_null=True, help_text="街道名称 / street name")


class UnassignedPageSerializer(serializers.Serializer):
    layer = serializers.ChoiceField(choices=list(selectors.point_models()))
    count = serializers.IntegerField(help_text="总数 / total number")
    results = UnassignedPointSerializer(many=True)


class LocateView(APIView):
    """GET /api/v1/locate?lon=..&lat=..&crs=wgs84|cgcs2000|gcj02|bd09|webmercator.

    Answers the district, street, community and grid at the point (codes and names) and
    the grid's workers — those only when the grid lies in the caller's area.
    """

    token_scopes = {"GET": "layers:read"}

    @extend_schema(
        summary="定位：点所在的区、街道、社区和网格 / Locate a point's areas and grid",
        parameters=POINT_PARAMETERS,
        responses={
            200: LocateSerializer,
            400: OpenApiResponse(ErrorSerializer, description="坐标无效 / invalid coordinates"),
            403: ErrorSerializer,
        },
    )
    def get(self, request):
        try:
            lon, lat = parse_point(request.query_params)
        except ValueError as exc:
            return _bad(str(exc))
        found = selectors.locate(request.user, lon, lat)
        body = {"lon": round(lon, 7), "lat": round(lat, 7)}
        for level in ("district", "street", "community"):
            area = found[level]
            body[level] = {"code": area["code"], "name": area["name"]} if area else None
        grid = found["grid"]
        body["grid"] = (
            {"code": grid["code"], "name": grid["name"], "version": grid["version"]}
            if grid
            else None
        )
        body["workers"] = [{"name": w["name"], "phone": w["phone"]} for w in found["workers"]]
        body["workers_visible"] = found["workers_visible"]
        if grid is None:
            body["detail"] = "该点不在任何网格内 / the point lies outside every grid"
        return Response(body)


class UnassignedView(APIView):
    """GET /api/v1/unassigned?layer=rentals|persons|cases|organisations|compounds."""

    @extend_schema(
        summary="不在任何网格内的点 / Points outside every grid",
        parameters=[
            OpenApiParameter(
                "layer",
                OpenApiTypes.STR,
                enum=list(selectors.point_models()),
                default="rentals",
                description="图层 / layer",
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                default=100,
                description="每页条数，限于 1–1000 / page size, clamped to 1–1000",
            ),
            OpenApiParameter(
                "offset",
                OpenApiTypes.INT,
                default=0,
                description="跳过条数，负数按 0，不能大于 2^63-1 / rows to skip, negative "
                "counts as 0, at most 2^63-1",
            ),
        ],
        responses={
            200: UnassignedPageSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="未知图层或参数无效 / unknown layer, bad limit or offset",
            ),
            403: OpenApiResponse(
                ErrorSerializer,
                description="仅限区级角色和系统管理员，不接受令牌 / district role and system "
                "administrators only, no API tokens",
            ),
        },
    )
    def get(self, request):
        if not has_role(request.user, *UNASSIGNED_ROLES):
            raise PermissionDenied("您的角色无权查看 / your role may not see this list")
        layer = request.query_params.get("layer", "rentals")
        if layer not in selectors.point_models():
            choices = ", ".join(selectors.point_models())
            return _bad(f"未知的图层 {layer}，可选 {choices} / unknown layer, choose {choices}")
        qs = selectors.unassigned(request.user, layer).order_by("pk")
        try:
            limit = min(max(int(request.query_params.get("limit", 100)), 1), 1000)
            offset = max(int(request.query_params.get("offset", 0)), 0)
        except ValueError:
            return _bad("limit/offset 应为整数 / limit and offset must be whole numbers")
        if offset > MAX_OFFSET:
            return _bad(f"offset 不能大于 {MAX_OFFSET} / offset must be at most {MAX_OFFSET}")
        rows = [
            {
                "id": r.pk,
                "label": str(r),
                "lon": round(r.location.x, 7),
                "lat": round(r.location.y, 7),
                "community": r.community.name if r.community_id else None,
                "street": r.street.name if r.street_id else None,
            }
            for r in qs.select_related("community", "street")[offset : offset + limit]
        ]
        return Response({"layer": layer, "count": qs.count(), "results": rows})
