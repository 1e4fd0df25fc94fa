from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from gridmap import maps
from layers import selectors as layer_selectors


@login_required
@require_GET
def home(request):
    """Show the district at a glance: its grids on a map and the main counts."""
    # Both are limited to the user's area (accounts.scoping).
    fmap = maps.overview_map(layer_selectors.overview_layers(request.user))
    context = {"map": maps.parts(fmap), "counts": layer_selectors.district_counts(request.user)}
    return render(request, "home.html", context)


@require_GET
def healthz(request):
    """Answer 200 when the database answers and the periodic jobs run, 503 otherwise.

    Without HEALTHZ_REQUIRE_JOBS (set by scripts/serve.sh) the jobs are reported only.
    """
    from gridmap import health

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        jobs = health.status()
    except Exception:  # noqa: BLE001 (any failure means unhealthy)
        return JsonResponse({"database": "down"}, status=503)
    ok = jobs["status"] == "ok" or not health.jobs_required()
    return JsonResponse({"database": "ok", "jobs": jobs}, status=200 if ok else 503)
