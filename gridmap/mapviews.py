"""The map pages: the command-centre wall map, the grid worker's territory view, their
vector tiles, the small JSON they poll, and standalone HTML exports.

Views only parse, authorise, call selectors/services and render.
"""

import logging
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from gridmap import map_selectors, map_services, maps, sql_tiles, tiles

log = logging.getLogger(__name__)

MVT_TYPE = "application/vnd.mapbox-vector-tile"
EXPORT_CASE_LIMIT = 5000


def _error(status, zh, en, **extra):
    return JsonResponse({"detail": f"{zh} / {en}", **extra}, status=status)


def api_login_required(view):
    """Answer 403 JSON (not a redirect to the log-in page) to anonymous data requests."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error(403, "请先登录", "log in first")
        return view(request, *args, **kwargs)

    return wrapper


def _versions():
    return {layer: tiles.layer_version(layer) for layer in tiles.LAYERS}


def _point_zoom():
    """Return the map zooms from which the pages draw points one by one."""
    return {layer: tiles.map_zoom(z) for layer, z in tiles.POINT_ZOOM.items()}


def _can_dispatch(user):
    """Return True when the user's role may dispatch at all (per case: _case_actions)."""
    return user.is_superuser or user.role in {
        Role.ADMIN,
        Role.DISTRICT,
        Role.STREET,
        Role.COMMUNITY,
    }


def _case_actions(user, case_id):
    """Return the workflow actions the user may take on a case (cases.selectors)."""
    try:
        from cases.selectors import actions_for
    except ImportError:
        return None
    case = map_selectors.visible_cases(user).filter(pk=case_id).first()
    return [] if case is None else actions_for(user, case)


# --- pages --------------------------------------------------------------------------------


@login_required
@require_GET
def wall(request):
    """Show the command-centre wall map."""
    user = request.user
    bounds = map_selectors.viewer_bounds(user)
    config = {
        "urls": {
            "live": reverse("map-live"),
            "stats": reverse("map-stats"),
            "grid": reverse("map-grid", args=[0]).replace("/0.json", "/{id}.json"),
            "case": reverse("map-case", args=[0]).replace("/0.json", "/{id}.json"),
            "dispatch": reverse("map-dispatch", args=[0]).replace("/0/", "/{id}/"),
            "export": reverse("map-export", args=["wall"]),
        },
        "pointZoom": _point_zoom(),
        "poll": 4000,
    }
    fmap = maps.wall_map(bounds, _versions(), config)
    context = {"map": maps.parts(fmap), "can_dispatch": _can_dispatch(user)}
    return render(request, "gridmap/map_wall.html", context)


@login_required
@require_GET
def territory(request):
    """Show a grid worker's day on a phone: his grids, what is due, his cases, report."""
    user = request.user
    if user.role != Role.GRID_WORKER:
        # A territory is a grid worker's; other roles see their area on the wall map.
        return render(request, "gridmap/map_territory.html", {"not_worker": True})
    data = map_selectors.territory(user)
    ids = [g["pk"] for g in data["grids"]]
    bounds = map_selectors.viewer_bounds(user) if ids else None
    grids = sql_tiles.grids_geojson(ids)
    config = {
        "urls": {
            "report": reverse("cases:api-cases"),
            "case": reverse("map-case", args=[0]).replace("/0.json", "/{id}.json"),
            "live": reverse("map-live"),
        },
        "pointZoom": _point_zoom(),
        "poll": 15000,
    }
    fmap = maps.territory_map(bounds, grids, _versions(), config)
    context = {
        "map": maps.parts(fmap),
        "data": data,
        "categories": map_selectors.categories(),
    }
    return render(request, "gridmap/map_territory.html", context)


# --- tiles and data -----------------------------------------------------------------------


@require_GET
def tile(request, layer, z, x, y):
    """Return one vector tile of a layer, limited to the viewer's area."""
    if not request.user.is_authenticated:
        return _error(403, "请先登录", "log in first")
    try:
        data, version, hit = tiles.tile(layer, z, x, y, request.user)
    except tiles.TileError as exc:
        return _error(404 if layer not in tiles.LAYERS else 400, *str(exc).split(" / ", 1))
    response = HttpResponse(data, content_type=MVT_TYPE)
    # The page asks with ?v=<data version>: a tile of the current version may be kept.
    fresh = request.GET.get("v") == version
    response["Cache-Control"] = "private, max-age=300" if fresh else "private, no-cache"
    response["X-Tile-Cache"] = "hit" if hit else "miss"
    return response


@require_GET
@api_login_required
@gzip_page
def stats(request):
    """Return {grid id: [open, overdue, hotspot class]} for the viewer's grids."""
    hot = request.GET.get("hotspots") in {"1", "true"}
    data = map_selectors.grid_stats(request.user, hotspots=hot)
    return JsonResponse(
        {"v": tiles.layer_version("cases"), "hotspots": hot, "grids": data},
        json_dumps_params={"separators": (",", ":")},
    )


def _parse_id(value, name):
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} 须为整数 / {name} must be an integer") from None
    if number < 0:
        raise ValueError(f"{name} 须为非负整数 / {name} must not be negative")
    return number


@require_GET
@api_login_required
def live(request):
    """Return what the wall map polls: data versions, KPIs and the cases after ?since=."""
    try:
        since = _parse_id(request.GET.get("since"), "since")
    except ValueError as exc:
        return _error(400, *str(exc).split(" / ", 1))
    user = request.user
    return JsonResponse(
        {
            "versions": _versions(),
            "kpis": map_selectors.kpis(user),
            "feed": map_selectors.case_feed(user, since_id=since),
            "now": timezone.localtime().strftime("%H:%M:%S"),
        }
    )


@require_GET
@api_login_required
def grid_detail(request, grid_id):
    """Return a grid's workers, counts and open cases (its popup)."""
    data = map_selectors.grid_detail(request.user, grid_id)
    if data is None:
        return _error(404, "网格不存在或不在您的辖区", "no such grid in your area")
    return JsonResponse(data)


@require_GET
@api_login_required
def case_detail(request, case_id):
    """Return a case's details (its popup) and whether the viewer may dispatch it."""
    user = request.user
    data = map_selectors.case_detail(user, case_id)
    if data is None:
        return _error(404, "案件不存在或不在您的辖区", "no such case in your area")
    actions = _case_actions(user, case_id)
    data["actions"] = actions
    data["can_dispatch"] = (
        "dispatch" in actions if actions is not None else _can_dispatch(user)
    ) and map_services.dispatch_available()
    data["page"] = map_services.case_page_url(case_id)
    return JsonResponse(data)


@require_POST
@api_login_required
def dispatch(request, case_id):
    """Dispatch a case from its popup by the routing rules (cases.services.case_dispatch)."""
    user = request.user
    actions = _case_actions(user, case_id)
    allowed = "dispatch" in actions if actions is not None else _can_dispatch(user)
    if not allowed:
        return _error(403, "您无权派遣此案件", "you may not dispatch this case")
    try:
        version = _parse_id(request.POST.get("version"), "version")
    except ValueError as exc:
        return _error(400, *str(exc).split(" / ", 1))
    try:
        result = map_services.dispatch_case(user=user, case_id=case_id, version=version)
    except map_services.MapServiceError as exc:
        return _error(exc.status, *str(exc).split(" / ", 1))
    return JsonResponse(result)


# --- export -------------------------------------------------------------------------------


@require_GET
@login_required
def export(request, view):
    """Return a standalone HTML snapshot of a map view (data embedded, assets inlined)."""
    if view not in {"wall", "territory"}:
        return _error(404, "未知的地图", "unknown map view")
    try:
        bbox = map_services.parse_bbox(request.GET.get("bbox"))
    except map_services.MapServiceError as exc:
        return _error(exc.status, *str(exc).split(" / ", 1))
    user = request.user
    snapshot = map_services.snapshot(user, view=view, bbox=bbox, limit=EXPORT_CASE_LIMIT)
    fmap = maps.snapshot_map(
        snapshot["bounds"],
        snapshot["grids"],
        snapshot["cases"],
        snapshot["title"],
        dark=False,
    )
    page = maps.standalone_html(fmap)
    response = HttpResponse(page, content_type="text/html; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="gridmap-{view}-{stamp}.html"'
    return response
