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


# Query parameters that carry a credential (Open311's api_key): never written to the log.
SECRET_PARAMS = frozenset({"api_key"})


def _loggable(text, limit=300):
    # PostgreSQL's jsonb cannot hold NUL; a query string is the client's to make long.
    return text.replace("\x00", "\ufffd")[:limit]


def query_of(request):
    """Return the request's query parameters as {name: value, or [values] if repeated}.

    Credentials are left out (SECRET_PARAMS); NUL characters become U+FFFD and each name
    and value is cut at 300 characters, so that any query can be written to the log.
    """
    if request is None:
        return {}
    query = {}
    for name, values in request.GET.lists():
        if name.lower() not in SECRET_PARAMS:
            values = [_loggable(value) for value in values]
            query[_loggable(name)] = values[0] if len(values) == 1 else values
    return query


def _path_of(request):
    """Return the request's path and query as the log keeps it (credentials left out)."""
    params = request.GET
    if not any(name.lower() in SECRET_PARAMS for name in params):
        return request.get_full_path()[:300]
    kept = params.copy()
    for name in list(kept):
        if name.lower() in SECRET_PARAMS:
            del kept[name]
    query = kept.urlencode()
    return (request.path + (f"?{query}" if query else ""))[:300]


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
        user_agent=_loggable(meta.get("HTTP_USER_AGENT", "")),
        path=_path_of(request) if request is not None else "",
        detail=detail or {},
    )
