"""OGC API – Features, Part 1: Core, GeoJSON, read-only, at /ogcapi/ (for QGIS and GDAL).

Collections: streets, communities, grids (current boundaries), rentals (rental houses)
and cases, each limited to the caller's area (accounts.scoping; cases through
cases.selectors.cases_visible_to). The caller authenticates by session or by API token,
sent as ``Authorization: Bearer gm_…`` or as the password of HTTP Basic (for QGIS: see
ApiTokenBasicAuthentication); a token needs the scope layers:read, and cases:read for the
cases collection. No personal data is served: landlords, residents and case parties
are not part of any collection.

Conformance classes: core, geojson and oas30 (the OpenAPI 3.0 document at /ogcapi/api).
Items take ``bbox`` (CRS84), ``limit`` (default 10, at most 10000; larger values are
clamped), ``offset`` and, for cases, ``datetime`` (an instant or an interval on the
reporting time); they answer with numberMatched, numberReturned and next/prev links.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.gis.db.models.functions import AsGeoJSON
from django.contrib.gis.geos import Polygon
from django.db.models import Max, Min
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import urlencode
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts import bulk_reads
from accounts.authentication import ApiTokenAuthentication, authenticate_key
from accounts.scoping import scope
from interop.params import ParamError, parse_bbox, parse_int, parse_when

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 10
MAX_LIMIT = 10000
COORD_PRECISION = 7


# --- the collections ---------------------------------------------------------------------


def _streets(user):
    from layers.models import Street

    return scope(user, Street.objects.all())


def _communities(user):
    from layers.models import Community

    return scope(user, Community.objects.all())


def _grids(user):
    from layers.models import Grid

    return scope(user, Grid.objects.current())


def _rentals(user):
    from layers.models import RentalHouse

    return scope(user, RentalHouse.objects.all())


def _cases(user):
    from cases.selectors import cases_visible_to

    return cases_visible_to(user)


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    queryset: object
    geometry: str
    # property name → lookup of .values()
    properties: dict = field(default_factory=dict)
    temporal: str = ""
    scope: str = "layers:read"
    # Homes and petitions: their items pages are audited, rate-limited bulk reads.
    personal: bool = False


COLLECTIONS = {
    c.id: c
    for c in [
        Collection(
            "streets",
            "街道 / Streets",
            "街道（乡镇）边界 / boundaries of the streets (sub-district offices)",
            _streets,
            "geom",
            {"code": "code", "name": "name", "district": "district__code"},
        ),
        Collection(
            "communities",
            "社区 / Communities",
            "社区（村）边界 / boundaries of the communities and villages",
            _communities,
            "geom",
            {"code": "code", "name": "name", "kind": "kind", "street": "street__code"},
        ),
        Collection(
            "grids",
            "网格 / Grids",
            "现行网格边界（CJ/T 349 编码） / current grid boundaries (CJ/T 349 codes)",
            _grids,
            "geom",
            {
                "code": "code",
                "name": "name",
                "version": "version",
                "valid_from": "valid_from",
                "community": "community__code",
                "community_name": "community__name",
                "street": "community__street__code",
            },
        ),
        Collection(
            "rentals",
            "出租房屋 / Rental houses",
            "出租房屋位置与安全状况（不含房东信息） / rental houses and their safety "
            "findings (no landlord data)",
            _rentals,
            "location",
            {
                "code": "code",
                "address": "address",
                "rooms": "rooms",
                "tenant_count": "tenant_count",
                "overcrowded": "overcrowded",
                "three_in_one": "three_in_one",
                "fire_hazard": "fire_hazard",
                "last_inspected": "last_inspected",
                "grid": "grid__code",
                "community": "community__code",
                "street": "street__code",
            },
            personal=True,
        ),
        Collection(
            "cases",
            "案件 / Cases",
            "事件、信访与矛盾纠纷（不含当事人信息） / incidents, petitions and disputes "
            "(no party data)",
            _cases,
            "location",
            {
                "number": "number",
                "status": "status",
                "source": "source",
                "category": "category__code",
                "category_name": "category__name",
                "urgency": "urgency",
                "level": "level",
                "title": "title",
                "address": "address",
                "reported_at": "reported_at",
                "deadline": "deadline",
                "closed_at": "closed_at",
                "grid": "grid__code",
                "community": "community__code",
                "street": "street__code",
            },
            temporal="reported_at",
            scope="cases:read",
            personal=True,
        ),
    ]
}


# --- responses ---------------------------------------------------------------------------


def _plain(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value
    if isinstance(value, date):
        return value.isoformat()
    return value


def _json(data, status=200, content_type=JSON, headers=None):
    body = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    response = HttpResponse(body, status=status, content_type=f"{content_type}; charset=utf-8")
    for key, value in (headers or {}).items():
        response[key] = value
    # Every answer depends on who asks. Without this, QGIS's HTTP disk cache served the
    # landing page, collection and first page fetched with one token to a layer set up
    # with another (or a revoked) token, and kept the cases on the user's disk.
    patch_cache_control(response, private=True, no_store=True)
    patch_vary_headers(response, ("Authorization", "Cookie"))
    return response


def _error(status, code, description, headers=None):
    return _json({"code": code, "description": description}, status=status, headers=headers)


class OgcError(Exception):
    def __init__(self, status, code, description):
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def _bad(param, message):
    return OgcError(400, "InvalidParameterValue", message)


def _not_found(message):
    return OgcError(404, "NotFound", message)


# --- views -------------------------------------------------------------------------------


class AnyAccept(BaseContentNegotiation):
    """Answer JSON whatever the Accept header says (GeoJSON is JSON; f= is checked apart)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ApiTokenBasicAuthentication(BaseAuthentication):
    """Accept an API token as the password of HTTP Basic authentication (any user name).

    QGIS 3.22 (Debian 12) has no way to send ``Authorization: Bearer`` on an OAPIF layer:
    no HTTP-header authentication method and no http-header in the layer's source. It
    does send Basic credentials from a Basic authentication configuration (or from
    username/password in the source), so the token travels as the password. An account's
    own password is never accepted here; the token's scopes are checked as for Bearer.
    """

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"basic":
            return None
        invalid = exceptions.AuthenticationFailed(
            "令牌无效或已过期（Basic 认证的密码须为接口令牌） / invalid or expired token "
            "(with HTTP Basic, the password must be an API token; any user name)"
        )
        if len(header) != 2:
            raise invalid
        try:
            decoded = base64.b64decode(header[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid from None
        _, colon, raw = decoded.partition(":")
        if not colon:
            raise invalid
        return authenticate_key(request, raw, invalid)

    def authenticate_header(self, request):
        return "Bearer"


class OgcView(APIView):
    """Base of the OGC API views: token or session, JSON answers, OGC exception bodies."""

    authentication_classes = [
        ApiTokenAuthentication,
        ApiTokenBasicAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept
    # Not part of the /api/schema/ document: /ogcapi/api describes these endpoints.
    schema = None

    @property
    def token_scopes(self):
        collection = COLLECTIONS.get(self.kwargs.get("collection_id", ""))
        return {"GET": collection.scope if collection else "layers:read"}

    def base(self, request):
        return request.build_absolute_uri("/ogcapi")

    def check_format(self, request):
        f = request.query_params.get("f")
        if f not in (None, "", "json", "geojson", "application/json", GEOJSON):
            raise _bad(
                "f",
                f"不支持的格式“{f}”，可选 json / unsupported format {f!r}: use f=json",
            )

    def handle_exception(self, exc):
        if isinstance(exc, OgcError):
            return _error(exc.status, exc.code, exc.description)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return _error(
                401,
                "NotAuthenticated",
                _text(exc.detail)
                if isinstance(exc, exceptions.AuthenticationFailed)
                else "请登录或提供接口令牌 / log in or send an API token (Authorization: Bearer …)",
                headers={"WWW-Authenticate": 'Bearer realm="gridmap"'},
            )
        if isinstance(exc, exceptions.PermissionDenied):
            return _error(403, "Forbidden", _text(exc.detail))
        if isinstance(exc, exceptions.MethodNotAllowed):
            return _error(
                405, "MethodNotAllowed", "只读接口，仅支持 GET / read-only: only GET is allowed"
            )
        if isinstance(exc, exceptions.APIException):
            return _error(exc.status_code, "Error", _text(exc.detail))
        return super().handle_exception(exc)

    def collection(self, collection_id):
        collection = COLLECTIONS.get(collection_id)
        if collection is None:
            raise _not_found(
                f"没有名为“{collection_id}”的图层 / no collection {collection_id!r}; "
                f"choose one of {', '.join(COLLECTIONS)}"
            )
        if getattr(self.request, "auth", None) is not None and hasattr(self.request.auth, "allows"):
            if not self.request.auth.allows(collection.scope):
                raise OgcError(
                    403,
                    "Forbidden",
                    f"令牌无权访问此图层 / this token may not read {collection_id} "
                    f"(needs {collection.scope})",
                )
        return collection


def _text(detail):
    return str(detail)


class LandingPage(OgcView):
    def get(self, request):
        self.check_format(request)
        base = self.base(request)
        return _json(
            {
                "title": "gridmap OGC API – Features",
                "description": "网格化管理图层（只读） / grid-management layers, read-only",
                "links": [
                    _link(f"{base}", "self", JSON, "本文档 / this document"),
                    _link(f"{base}/api", "service-desc", OPENAPI, "API 定义 / API definition"),
                    _link(
                        request.build_absolute_uri("/api/docs/"),
                        "service-doc",
                        "text/html",
                        "接口文档 / API documentation",
                    ),
                    _link(f"{base}/conformance", "conformance", JSON, "符合性声明 / conformance"),
                    _link(f"{base}/collections", "data", JSON, "图层 / collections"),
                ],
            }
        )


class NotFoundPath(OgcView):
    """Any other path under /ogcapi/: an OGC exception, not an HTML page."""

    def get(self, request, rest=""):
        raise _not_found(f"没有此资源 / no resource at /ogcapi/{rest}")


class Conformance(OgcView):
    def get(self, request):
        self.check_format(request)
        return _json({"conformsTo": CONFORMANCE})


class ApiDefinition(OgcView):
    def get(self, request):
        self.check_format(request)
        return _json(openapi_document(self.base(request)), content_type=OPENAPI)


def _link(href, rel, type_, title=None):
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _extent(collection, user):
    qs = collection.queryset(user)
    from django.contrib.gis.db.models import Extent

    aggregates = {"bbox": Extent(collection.geometry)}
    if collection.temporal:
        aggregates["t0"] = Min(collection.temporal)
        aggregates["t1"] = Max(collection.temporal)
    values = qs.aggregate(**aggregates)
    extent = {
        "spatial": {
            "bbox": [[round(v, COORD_PRECISION) for v in values["bbox"]]]
            if values["bbox"]
            else [[-180.0, -90.0, 180.0, 90.0]],
            "crs": CRS84,
        }
    }
    if collection.temporal:
        extent["temporal"] = {
            "interval": [[_plain(values["t0"]), _plain(values["t1"])]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return extent


def _collection_doc(collection, base, user):
    url = f"{base}/collections/{collection.id}"
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": _extent(collection, user),
        "links": [
            _link(url, "self", JSON, collection.title),
            _link(f"{url}/items", "items", GEOJSON, collection.title),
        ],
    }


class Collections(OgcView):
    def get(self, request):
        self.check_format(request)
        base = self.base(request)
        token = getattr(request, "auth", None)
        visible = [
            c
            for c in COLLECTIONS.values()
            if token is None or not hasattr(token, "allows") or token.allows(c.scope)
        ]
        return _json(
            {
                "links": [_link(f"{base}/collections", "self", JSON, "图层 / collections")],
                "collections": [_collection_doc(c, base, request.user) for c in visible],
            }
        )


class CollectionDetail(OgcView):
    def get(self, request, collection_id):
        self.check_format(request)
        collection = self.collection(collection_id)
        return _json(_collection_doc(collection, self.base(request), request.user))


def _datetime_filter(raw):
    """Return (start, end) from an RFC 3339 instant or interval ("a/b", "../b", "a/..")."""
    text = raw.strip()
    if "/" in text:
        a, _, b = text.partition("/")
        start = None if a in ("", "..") else parse_when(a, "datetime")
        end = None if b in ("", "..") else parse_when(b, "datetime", end=True)
        if start and end and start > end:
            raise ParamError("datetime", "datetime 起点晚于终点 / datetime starts after it ends")
        return start, end
    instant = parse_when(text, "datetime")
    return instant, parse_when(text, "datetime", end=True)


def _features(collection, rows):
    features = []
    for row in rows:
        geometry = row.pop("_geometry")
        fid = row.pop("pk")
        features.append(
            {
                "type": "Feature",
                "id": fid,
                "geometry": json.loads(geometry) if geometry else None,
                "properties": {
                    name: _plain(row[lookup]) for name, lookup in collection.properties.items()
                },
            }
        )
    return features


def _rows(collection, qs):
    lookups = list(dict.fromkeys(collection.properties.values()))
    return qs.annotate(_geometry=AsGeoJSON(collection.geometry, precision=COORD_PRECISION)).values(
        "pk", "_geometry", *lookups
    )


class Items(OgcView):
    @staticmethod
    def bulk_read(request):
        """Return the collection's id when its items are personal data (accounts/bulk_reads)."""
        collection = COLLECTIONS.get(request.resolver_match.kwargs.get("collection_id", ""))
        return collection.id if collection is not None and collection.personal else ""

    def get(self, request, collection_id):
        self.check_format(request)
        collection = self.collection(collection_id)
        params = request.query_params
        try:
            limit = parse_int(
                params.get("limit"),
                "limit",
                default=DEFAULT_LIMIT,
                minimum=1,
                maximum=MAX_LIMIT,
                clamp=True,
            )
            offset = parse_int(params.get("offset"), "offset", default=0, minimum=0)
            qs = collection.queryset(request.user)
            bbox_crs = params.get("bbox-crs")
            if bbox_crs and bbox_crs != CRS84:
                raise ParamError("bbox-crs", f"bbox-crs 仅支持 {CRS84} / bbox-crs must be {CRS84}")
            crs = params.get("crs")
            if crs and crs != CRS84:
                raise ParamError("crs", f"crs 仅支持 {CRS84} / crs must be {CRS84}")
            if params.get("bbox"):
                box = Polygon.from_bbox(parse_bbox(params["bbox"], "bbox"))
                box.srid = 4326
                qs = qs.filter(**{f"{collection.geometry}__intersects": box})
            if params.get("datetime") and collection.temporal:
                start, end = _datetime_filter(params["datetime"])
                if start:
                    qs = qs.filter(**{f"{collection.temporal}__gte": start})
                if end:
                    qs = qs.filter(**{f"{collection.temporal}__lte": end})
        except ParamError as exc:
            raise _bad(exc.param, exc.message) from None
        matched = qs.count()
        rows = list(_rows(collection, qs.order_by("pk"))[offset : offset + limit])
        features = _features(collection, rows)
        bulk_reads.returned(request, len(features))
        url = f"{self.base(request)}/collections/{collection.id}/items"
        kept = {k: v for k, v in params.items() if k not in ("limit", "offset", "f")}

        def page(at):
            return f"{url}?{urlencode({**kept, 'limit': limit, 'offset': at})}"

        links = [
            _link(page(offset), "self", GEOJSON, "本页 / this page"),
            _link(f"{self.base(request)}/collections/{collection.id}", "collection", JSON),
        ]
        if offset + len(features) < matched:
            links.append(_link(page(offset + limit), "next", GEOJSON, "下一页 / next page"))
        if offset > 0:
            links.append(
                _link(page(max(0, offset - limit)), "prev", GEOJSON, "上一页 / previous page")
            )
        return _json(
            {
                "type": "FeatureCollection",
                "timeStamp": timezone.now().isoformat(timespec="seconds"),
                "numberMatched": matched,
                "numberReturned": len(features),
                "features": features,
                "links": links,
            },
            content_type=GEOJSON,
        )


class Item(OgcView):
    def get(self, request, collection_id, feature_id):
        self.check_format(request)
        collection = self.collection(collection_id)
        missing = _not_found(
            f"图层 {collection.id} 中没有要素 {feature_id}（或不在您的辖区内） / no feature "
            f"{feature_id} in {collection.id} within your area"
        )
        if not feature_id.isdigit() or len(feature_id) > 18:
            raise missing
        qs = collection.queryset(request.user).filter(pk=int(feature_id))
        rows = list(_rows(collection, qs))
        if not rows:
            raise missing
        feature = _features(collection, rows)[0]
        base = self.base(request)
        feature["links"] = [
            _link(f"{base}/collections/{collection.id}/items/{feature_id}", "self", GEOJSON),
            _link(f"{base}/collections/{collection.id}", "collection", JSON),
        ]
        return _json(feature, content_type=GEOJSON)


# --- the OpenAPI 3.0 document of this API (conformance class oas30) ----------------------


def openapi_document(base):
    """Return the OpenAPI 3.0 description of the OGC API – Features endpoints."""
    collection_id = {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(COLLECTIONS)},
    }
    json_ok = {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}
    geojson_ok = {"description": "OK", "content": {GEOJSON: {"schema": {"type": "object"}}}}
    errors = {
        "400": {"description": "参数错误 / invalid parameter"},
        "401": {"description": "未认证 / not authenticated"},
        "404": {"description": "不存在 / not found"},
    }
    f_param = {
        "name": "f",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["json", "geojson"]},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "gridmap OGC API – Features",
            "version": "1.0.0",
            "description": "网格化管理图层（只读） / grid-management layers, read-only",
        },
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer"},
                "apiTokenBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "接口令牌作为密码，用户名任意 / the API token as the "
                    "password, any user name (for QGIS)",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
            "parameters": {
                "limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                },
                "offset": {
                    "name": "offset",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
                "bbox": {
                    "name": "bbox",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {
                        "type": "array",
                        "minItems": 4,
                        "maxItems": 6,
                        "items": {"type": "number"},
                    },
                },
                "datetime": {
                    "name": "datetime",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {"type": "string"},
                },
            },
        },
        "security": [{"apiToken": []}, {"apiTokenBasic": []}, {"session": []}],
        "paths": {
            "/": {"get": {"operationId": "getLandingPage", "responses": {"200": json_ok}}},
            "/conformance": {
                "get": {"operationId": "getConformanceDeclaration", "responses": {"200": json_ok}}
            },
            "/api": {"get": {"operationId": "getApiDefinition", "responses": {"200": json_ok}}},
            "/collections": {
                "get": {
                    "operationId": "getCollections",
                    "parameters": [f_param],
                    "responses": {"200": json_ok},
                }
            },
            "/collections/{collectionId}": {
                "get": {
                    "operationId": "describeCollection",
                    "parameters": [collection_id, f_param],
                    "responses": {"200": json_ok, **errors},
                }
            },
            "/collections/{collectionId}/items": {
                "get": {
                    "operationId": "getFeatures",
                    "parameters": [
                        collection_id,
                        {"$ref": "#/components/parameters/limit"},
                        {"$ref": "#/components/parameters/offset"},
                        {"$ref": "#/components/parameters/bbox"},
                        {"$ref": "#/components/parameters/datetime"},
                        f_param,
                    ],
                    "responses": {"200": geojson_ok, **errors},
                }
            },
            "/collections/{collectionId}/items/{featureId}": {
                "get": {
                    "operationId": "getFeature",
                    "parameters": [
                        collection_id,
                        {
                            "name": "featureId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        f_param,
                    ],
                    "responses": {"200": geojson_ok, **errors},
                }
            },
        },
    }
