import logging
import time

from django.conf import settings
from django.utils.cache import patch_vary_headers

log = logging.getLogger(__name__)


def content_security_policy():
    """Return the CSP: nothing from outside origins, except a configured basemap's tiles."""
    img = ["'self'", "data:", "blob:"]
    from gridmap.maps import basemap_origin

    origin = basemap_origin()
    if origin:
        img.append(origin)
    # folium writes its map set-up as inline scripts, so 'unsafe-inline' stays for now;
    # every external origin is still refused.
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {' '.join(img)}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
        ]
    )


# Paths whose answers are personal to the caller: the APIs and the map pages' data (case
# details, workers' phones). The OGC API sets its own headers; tiles their own.
PRIVATE_API_PREFIXES = ("/api/", "/open311/", "/map/data/")

# Grid workers report their position from the phone's browser; nothing else is needed.
PERMISSIONS_POLICY = "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    """Add the Content-Security-Policy and Permissions-Policy headers to every response.

    nosniff, HSTS (production), Referrer-Policy and COOP come from Django's
    SecurityMiddleware and settings; X-Frame-Options from XFrameOptionsMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.csp = content_security_policy()

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if settings.PRODUCTION:
            response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.path_info.startswith(PRIVATE_API_PREFIXES):
            # Answers depend on who asks (area scoping, masking): no shared or disk cache
            # may hand one token's answer to another (QGIS's cache did, on /ogcapi/).
            response.headers.setdefault("Cache-Control", "private, no-store")
            patch_vary_headers(response, ("Authorization", "Cookie"))
        return response


class AuditExportMiddleware:
    """Write an audit entry for every export: every download answered to a signed-in user.

    A download is a successful response with ``Content-Disposition: attachment`` (the
    XLSX, PDF, CSV, GeoJSON and HTML exports of every app), so a new export is audited
    without its view having to remember. A view that records its own, richer entry
    (accounts.audit.record with the request) is not recorded twice.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        disposition = response.headers.get("Content-Disposition", "")
        if (
            200 <= response.status_code < 300
            and disposition.lower().startswith("attachment")
            and not getattr(request, "_audit_export_recorded", False)
        ):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                from accounts import audit

                match = getattr(request, "resolver_match", None)
                audit.record(
                    user=user,
                    action="export",
                    request=request,
                    detail={
                        "route": match.view_name if match else "",
                        "query": audit.query_of(request),
                        "content_type": response.headers.get("Content-Type", ""),
                        "filename": disposition[:200],
                    },
                )
        return response


class BulkReadMiddleware:
    """Audit and rate-limit every bulk read of personal data (accounts/bulk_reads.py).

    The view declares that it is one and reports its row count; here, the same for all: a
    user over his budget gets 429 before the view runs, and each successful read leaves one
    audit entry with its filter and row count.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        label = getattr(request, "_bulk_read", "")
        if label and 200 <= response.status_code < 300:
            from accounts import bulk_reads

            bulk_reads.record(request, label, response, user=request._bulk_read_requester)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        from accounts import bulk_reads

        label = bulk_reads.declared(request, view_func)
        if not label:
            return None
        user = bulk_reads.requester(request)
        request._bulk_read, request._bulk_read_requester = label, user
        if user is None:
            return None  # the view itself refuses whoever it cannot authenticate
        seconds = bulk_reads.retry_after(user)
        if seconds is None:
            return None
        request._bulk_read = ""  # refused: nothing was read
        log.warning(
            "bulk read refused: over the budget",
            extra={"user": user.get_username(), "path": request.path, "retry_after": seconds},
        )
        return bulk_reads.refusal(request, seconds)


class SessionIdleRefreshMiddleware:
    """Keep a signed-in session alive while it is used, writing it at most once a minute.

    Sessions expire after SESSION_COOKIE_AGE of idle time. Django's SESSION_SAVE_EVERY_REQUEST
    would give that too, but at the price of a session write on every request: a wall map
    fetching dozens of tiles a second would write the session row dozens of times a second.
    Here the expiry is pushed forward only when the last refresh is older than
    SESSION_REFRESH_SECONDS, so a session expires between AGE - 60 s and AGE after the last
    request.
    """

    KEY = "_gridmap_refreshed"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or not session.session_key or session.is_empty():
            return response
        now = int(time.time())
        interval = getattr(settings, "SESSION_REFRESH_SECONDS", 60)
        if now - session.get(self.KEY, 0) >= interval:
            session[self.KEY] = now  # marks the session modified: saved with a new expiry
        return response


class DataVersionMiddleware:
    """Write the map data versions that a request's saves bumped once, when it ends.

    See gridmap.tiles.bump: the request's transactions are over by then, so no other
    process can read the new version and cache a tile from the old data.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from gridmap.tiles import coalesced_bumps

        with coalesced_bumps():
            return self.get_response(request)
