"""Writes (and the export snapshot) of the map pages, on top of the cases services.

The cases app owns the workflow: a report from the territory view is posted to the case
API (/api/v1/cases/, ``cases.services.case_register``) and a dispatch from the wall map
goes through ``cases.services.case_dispatch``.
"""

import logging

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from gridmap import map_selectors, sql_tiles, tiles

log = logging.getLogger(__name__)


class MapServiceError(ValueError):
    """A refused request, with a bilingual message ("中文 / English")."""

    def __init__(self, message, status=400, field=None):
        super().__init__(message)
        self.status = status
        self.field = field


def _cases_services():
    try:
        from cases import services
    except ImportError:  # pragma: no cover (the cases app always has its services)
        return None
    return services


def dispatch_available():
    services = _cases_services()
    return services is not None and hasattr(services, "case_dispatch")


def case_page_url(case_id):
    """Return the URL of a case's own page (the cases app's, else the admin's)."""
    for name in ("case-detail", "cases:detail", "case_detail"):
        try:
            return reverse(name, args=[case_id])
        except NoReverseMatch:
            continue
    return reverse("admin:cases_case_change", args=[case_id])


def dispatch_case(*, user, case_id, version=None):
    """Dispatch a visible case by the routing rules; return its new status and version."""
    services = _cases_services()
    if not dispatch_available():
        raise MapServiceError("派遣服务不可用 / dispatch is not available", status=503)
    case = map_selectors.visible_cases(user).filter(pk=case_id).first()
    if case is None:
        raise MapServiceError("案件不存在或不在您的辖区 / no such case in your area", 404)
    try:
        if case.status == "registered" and hasattr(services, "case_accept"):
            services.case_accept(case=case, by=user, version=version)
            version = None
        case = services.case_dispatch(case=case, by=user, version=version)
    except services.CaseError as exc:
        raise MapServiceError(str(exc), status=409) from exc
    tiles.bump("cases")
    return {"id": case.pk, "status": case.status, "version": case.version}


def parse_bbox(value):
    """Return [w, s, e, n] from 'w,s,e,n' (WGS84), or None when not given."""
    # One bbox parser for every endpoint: the one of the interoperability APIs.
    from interop.params import ParamError
    from interop.params import parse_bbox as parse

    if not value:
        return None
    try:
        box = list(parse(value, "bbox"))
    except ParamError as exc:
        raise MapServiceError(exc.message) from None
    if box[0] == box[2] or box[1] == box[3]:  # a map of no area cannot be drawn
        raise MapServiceError("bbox 的范围为空 / bbox has no area (west = east or south = north)")
    return box


def snapshot(user, *, view, bbox=None, limit=5000):
    """Return the data of a standalone export: the user's grids (with counts) and cases."""
    from cases.models import OPEN_STATUSES

    sc = tiles.viewer_scope(user)
    ids = sc.grid_list()
    if sc.empty:
        grids = {"type": "FeatureCollection", "features": []}
    else:
        grids = sql_tiles.grids_geojson(ids, bbox=bbox)
    counts = tiles.summary("cases")
    for feature in grids["features"]:
        n, od = counts.get(feature["id"], (0, 0))
        feature["properties"].update(open=n, overdue=od)
    cases = map_selectors.visible_cases(user).filter(status__in=OPEN_STATUSES)
    if bbox:
        from django.contrib.gis.geos import Polygon

        cases = cases.filter(location__within=Polygon.from_bbox(bbox))
    now = timezone.now()
    rows = [
        map_selectors._case_row(c, now)
        for c in cases.select_related("category", "grid").order_by("-pk")[:limit]
    ]
    if bbox:
        bounds = [[bbox[1], bbox[0]], [bbox[3], bbox[2]]]
    else:
        bounds = map_selectors.viewer_bounds(user)
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    title = {"wall": "指挥中心地图", "territory": "网格员辖区"}[view]
    return {
        "grids": grids,
        "cases": rows,
        "bounds": bounds,
        "title": f"{title} · {stamp} · 在办 {len(rows)} 件",
    }
