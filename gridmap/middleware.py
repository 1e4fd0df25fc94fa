from django.conf import settings


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
        return response
