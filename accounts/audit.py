"""The append-only audit log of reveals of personal data and of exports.

Call ``record`` from the view or service that reveals or exports, inside the same
transaction as the work it records, so that no reveal happens without its entry:

    from accounts import audit
    audit.record(user=request.user, action="export", request=request,
                 detail={"layer": "persons", "rows": n, "format": "xlsx"})
"""

import ipaddress

from django.conf import settings

from accounts.models import AuditEntry


def client_ip(request):
    """Return the client's IP address, trusting X-Forwarded-For only from our own proxies.

    settings.TRUSTED_PROXY_COUNT says how many proxies in front of the app append to
    X-Forwarded-For; the address that the nearest untrusted hop saw is the client's.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            remote = chain[-hops]
    try:
        return str(ipaddress.ip_address(remote)) if remote else None
    except ValueError:
        return None


def record(*, user, action, obj=None, reason="", request=None, detail=None, field=""):
    """Write one audit entry and return it.

    `obj` is the record looked at (its model and pk are kept), `field` the field revealed,
    `reason` what the user stated, `detail` anything else worth keeping (JSON: filters of
    an export, row count, format). Who and from where come from `user` and `request`.
    """
    if action not in AuditEntry.Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    model = object_pk = ""
    if obj is not None:
        model = obj._meta.label_lower
        object_pk = str(obj.pk)
    if request is not None and action == AuditEntry.Action.EXPORT:
        # gridmap.middleware.AuditExportMiddleware then does not record the download again.
        # (A DRF Request wraps the HttpRequest that the middleware sees.)
        getattr(request, "_request", request)._audit_export_recorded = True
    authenticated = user is not None and user.is_authenticated
    meta = request.META if request is not None else {}
    return AuditEntry.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        role=getattr(user, "role", "") if authenticated else "",
        action=action,
        model=model,
        object_pk=object_pk,
        field=field,
        reason=reason or "",
        ip=client_ip(request),
        user_agent=meta.get("HTTP_USER_AGENT", "")[:300],
        path=(request.get_full_path()[:300] if request is not None else ""),
        detail=detail or {},
    )
