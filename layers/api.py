"""REST API of the layers: locate a point, list the points outside every grid."""

import numpy as np
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.scoping import has_role
from layers import crs as crs_module
from layers import selectors

UNASSIGNED_ROLES = (Role.DISTRICT,)


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


class LocateView(APIView):
    """GET /api/v1/locate?lon=..&lat=..&crs=wgs84|cgcs2000|gcj02|bd09|webmercator.

    Answers the district, street, community and grid at the point (codes and names) and
    the grid's workers — those only when the grid lies in the caller's area.
    """

    token_scopes = {"GET": "layers:read"}

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
