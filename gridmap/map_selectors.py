"""Reads of the map pages: KPIs, grid statistics and hot spots, the live feed, popups.

Everything is area-scoped through accounts.scoping (``scope``) or the tile Scope built
from it (gridmap.tiles.viewer_scope); personal data leaves only masked.
"""

import logging
import threading
import time
from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.scoping import scope
from gridmap import sql_tiles, tiles
from gridmap.pii import mask_name, mask_phone

log = logging.getLogger(__name__)

HOTSPOT_DAYS = 90
FEED_LIMIT = 20
LIST_LIMIT = 50


def _cases():
    from cases.models import Case

    return Case.objects


def visible_cases(user):
    """Return the cases the user may see (the cases app's rule when it has one)."""
    try:
        from cases.selectors import cases_visible_to
    except ImportError:
        return scope(user, _cases().all())
    return cases_visible_to(user)


def _memo(key, seconds, compute):
    """Return compute() cached under key for `seconds`, shared by every server process.

    The KPIs of 500,000 cases take ~1.7 s of queries; in a per-process cache each gunicorn
    worker computed them again for the wall maps it happened to serve. The tiles' cache is
    shared (files) and the keys carry the database name and the data version.
    """
    cache = tiles.tile_cache()
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = compute()
    cache.set(key, value, seconds)
    return value


def _db():
    from django.db import connection

    return connection.settings_dict["NAME"]


# --- extent -------------------------------------------------------------------------------


def viewer_bounds(user):
    """Return [[s, w], [n, e]] of the user's grids, or None."""
    sc = tiles.viewer_scope(user)
    if sc.empty:
        return None
    box = sql_tiles.scoped_extent(sc.grid_list())
    if box is None:
        return None
    w, s, e, n = box
    return [[s, w], [n, e]]


# --- KPIs ---------------------------------------------------------------------------------


def _rate(num, den):
    return None if not den else round(100.0 * num / den, 1)


def kpis(user, now=None):
    """Return today's intake, open, overdue, closure and satisfaction rates and a trend.

    结案率 = closed / due (closed, or past the deadline), 满意率 = satisfied or basically
    satisfied callbacks / callbacks, over the cases of the last 365 days in the user's area.
    Cached per data version and area for 15 s: the wall map polls it.
    """
    from cases.models import OPEN_STATUSES, Callback, Status

    now = now or timezone.now()
    sc = tiles.viewer_scope(user)
    ver = tiles.versions(("cases",))["cases"]
    key = f"gm:kpi:{_db()}:{sc.key}:{user.pk}:{ver}:{int(time.time() // 15)}"

    def compute():
        qs = visible_cases(user)
        today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        year = now - timedelta(days=365)
        counts = qs.aggregate(
            today=Count("pk", filter=Q(reported_at__gte=today)),
            open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
            overdue=Count("pk", filter=Q(status__in=OPEN_STATUSES, deadline__lt=now)),
            closed=Count("pk", filter=Q(status=Status.CLOSED, reported_at__gte=year)),
            due=Count(
                "pk",
                filter=Q(reported_at__gte=year) & (Q(status=Status.CLOSED) | Q(deadline__lte=now)),
            ),
        )
        cb = Callback.objects.filter(case__in=qs.filter(reported_at__gte=year)).aggregate(
            n=Count("pk"),
            ok=Count("pk", filter=Q(rating__in=["satisfied", "basically"])),
        )
        start = today - timedelta(days=13)
        per_day = dict(
            qs.filter(reported_at__gte=start)
            .annotate(d=TruncDate("reported_at", tzinfo=timezone.get_current_timezone()))
            .order_by()
            .values("d")
            .annotate(n=Count("pk"))
            .values_list("d", "n")
        )
        labels, values = [], []
        for i in range(14):
            day = (start + timedelta(days=i)).date()
            labels.append(day.strftime("%m-%d"))
            values.append(per_day.get(day, 0))
        return {
            "today": counts["today"],
            "open": counts["open"],
            "overdue": counts["overdue"],
            "closure_rate": _rate(counts["closed"], counts["due"]),
            "satisfaction_rate": _rate(cb["ok"], cb["n"]),
            "trend": {"labels": labels, "values": values},
        }

    return _memo(key, 30, compute)


# --- grid statistics and hot spots --------------------------------------------------------

_weights = {}
_weights_lock = threading.Lock()


def _contiguity(grid_ver):
    """Return (ids, graph) of queen contiguity between current grids, per grids version."""
    import shapely

    from cases.hotspots.stats import contiguity_weights

    key = (_db(), grid_ver)
    with _weights_lock:
        hit = _weights.get(key)
    if hit is not None:
        return hit
    rows = sql_tiles.grid_geoms(None)
    ids = [gid for gid, _ in rows]
    geoms = shapely.from_wkb([wkb for _, wkb in rows])
    graph = contiguity_weights(geoms, ids) if len(ids) > 1 else None
    with _weights_lock:
        _weights.clear()
        _weights[key] = (ids, graph)
    return ids, graph


def hotspot_classes():
    """Return {grid_id: Gi_Bin (-3..3)} from Gi* on each grid's cases of the last 90 days.

    Computed over every current grid (the statistic needs the whole district), with the
    analytic p-value and FDR; cached per cases and grids version.
    """
    import pandas as pd

    from cases.hotspots.stats import getis_ord_gi_star

    ver = tiles.versions(("cases", "grids"))
    key = f"gm:hot:{_db()}:{ver['cases']}:{ver['grids']}"

    def compute():
        ids, graph = _contiguity(ver["grids"])
        if graph is None:
            return {}
        since = timezone.now() - timedelta(days=HOTSPOT_DAYS)
        counts = sql_tiles.recent_case_counts(since)
        values = pd.Series([counts.get(g, 0) for g in ids], index=ids, dtype=float)
        result = getis_ord_gi_star(values, graph, permutations=0)
        return {int(g): int(b) for g, b in result["gi_bin"].items() if b}

    return _memo(key, 300, compute)


def grid_stats(user, hotspots=False):
    """Return {grid_id: [open, overdue, hot]} for the user's grids (hot only if asked)."""
    sc = tiles.viewer_scope(user)
    if sc.empty:
        return {}
    data = tiles.summary("cases")
    hot = hotspot_classes() if hotspots else {}
    out = {}
    for gid, (n, od) in data.items():
        if sc.allows_grid(gid):
            out[gid] = [n, od, hot.get(gid, 0)]
    for gid, b in hot.items():
        if gid not in out and sc.allows_grid(gid):
            out[gid] = [0, 0, b]
    return out


# --- live feed ----------------------------------------------------------------------------


def _case_row(case, now):
    return {
        "id": case.pk,
        "number": case.number,
        "title": case.title or case.description[:40],
        "category": case.category.name,
        "status": case.status,
        "status_label": str(case.get_status_display()),
        "urgency": case.urgency,
        "grid": case.grid.name if case.grid_id else "",
        "reported_at": timezone.localtime(case.reported_at).strftime("%m-%d %H:%M"),
        "deadline": (
            timezone.localtime(case.deadline).strftime("%m-%d %H:%M") if case.deadline else ""
        ),
        "overdue": bool(case.deadline and case.deadline < now and case.status in _open_statuses()),
        "lon": case.location.x,
        "lat": case.location.y,
    }


def _open_statuses():
    from cases.models import OPEN_STATUSES

    return set(OPEN_STATUSES)


def case_feed(user, since_id=None, limit=FEED_LIMIT):
    """Return the newest cases in the user's area, after since_id when given (newest first)."""
    now = timezone.now()
    qs = visible_cases(user).select_related("category", "grid").order_by("-pk")
    if since_id is not None:
        qs = qs.filter(pk__gt=since_id)
    return [_case_row(c, now) for c in qs[:limit]]


# --- popups -------------------------------------------------------------------------------


def grid_detail(user, grid_id):
    """Return a grid of the user's area with its workers, counts and open cases, or None."""
    from cases.models import OPEN_STATUSES
    from layers.models import Grid

    grid = (
        scope(user, Grid.objects.current())
        .select_related("community__street")
        .filter(pk=grid_id)
        .first()
    )
    if grid is None:
        return None
    now = timezone.now()
    cases = visible_cases(user).filter(grid=grid, status__in=OPEN_STATUSES)
    open_cases = cases.select_related("category", "grid").order_by("deadline")[:LIST_LIMIT]
    rentals = tiles.summary("rentals").get(grid.pk, (0, 0))
    persons = tiles.summary("persons").get(grid.pk, (0, 0, 0))
    # Counts of rentals and persons are per-grid aggregates: no person row is read.
    return {
        "id": grid.pk,
        "code": grid.code,
        "name": grid.name,
        "community": grid.community.name,
        "street": grid.community.street.name,
        "workers": [
            {"name": w.name, "phone": mask_phone(w.phone) if w.phone else ""}
            for w in grid.workers.all()
        ],
        "counts": {
            "open": cases.count(),
            "overdue": cases.filter(deadline__lt=now).count(),
            "rentals": rentals[0],
            "inspection_due": rentals[1],
            "persons": persons[0],
            "floating": persons[1],
        },
        "open_cases": [_case_row(c, now) for c in open_cases],
    }


def case_detail(user, case_id):
    """Return a case of the user's area for its popup, or None."""
    case = (
        visible_cases(user).select_related("category", "grid", "community").filter(pk=case_id)
    ).first()
    if case is None:
        return None
    row = _case_row(case, timezone.now())
    row.update(
        {
            "description": case.description,
            "address": case.address,
            "source": str(case.get_source_display()),
            "community": case.community.name if case.community_id else "",
            "level": str(case.get_level_display()) if case.level else "",
            "version": case.version,
        }
    )
    return row


# --- territory (grid worker) --------------------------------------------------------------


def territory(user, now=None):
    """Return a grid worker's grids, due rentals, due persons (masked) and assigned cases."""
    from cases.models import OPEN_STATUSES
    from layers.models import Grid, Person, RentalHouse

    now = now or timezone.now()
    today = timezone.localdate()
    grids = list(scope(user, Grid.objects.current()).order_by("code").values("pk", "code", "name"))
    ids = [g["pk"] for g in grids]
    rent_due = today - timedelta(days=tiles.RENTAL_INSPECTION_DAYS)
    person_due = today - timedelta(days=tiles.PERSON_VERIFICATION_DAYS)
    rentals = scope(user, RentalHouse.objects.filter(grid_id__in=ids)).filter(
        Q(last_inspected__isnull=True) | Q(last_inspected__lt=rent_due)
    )
    persons = scope(user, Person.objects.filter(grid_id__in=ids)).filter(
        Q(last_verified__isnull=True) | Q(last_verified__lt=person_due)
    )
    cases = visible_cases(user).filter(status__in=OPEN_STATUSES)
    cases = cases.select_related("category", "grid").order_by("deadline")
    return {
        "grids": grids,
        "rentals_due_count": rentals.count(),
        "rentals_due": [
            {
                "id": r.pk,
                "address": r.address,
                "last_inspected": r.last_inspected.isoformat() if r.last_inspected else "",
                "risk": r.overcrowded or r.three_in_one or r.fire_hazard,
            }
            for r in rentals.order_by("last_inspected", "pk")[:LIST_LIMIT]
        ],
        "persons_due_count": persons.count(),
        "persons_due": [
            {
                "name": mask_name(p.name),
                "kind": str(p.get_kind_display()),
                "address": p.address,
                "last_verified": p.last_verified.isoformat() if p.last_verified else "",
            }
            for p in persons.order_by("last_verified", "pk").only(
                "name", "kind", "address", "last_verified"
            )[:LIST_LIMIT]
        ],
        "cases": [_case_row(c, now) for c in cases[:LIST_LIMIT]],
    }


def categories():
    """Return the active case categories as (code, name)."""
    from cases.models import Category

    return list(Category.objects.filter(active=True).values_list("code", "name"))
