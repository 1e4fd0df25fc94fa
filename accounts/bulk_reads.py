"""Bulk reads of personal data: one audit entry per request, and a rate limit per user.

A list of personal data that a client can page through (persons; rental houses, their
landlords and addresses; cases and their parties) is a bulk read, whatever serves it: a
REST list, an OGC API items page, an Open311 request search, a Django admin page. Masked
or not, 76,500 residents paged out of the API are a copy of the population register. The
view declares it with a label for the audit log:

    class PersonViewSet(LayerViewSet):
        bulk_read = "persons"

(or a callable that takes the request and returns the label or "", when the URL decides:
an OGC API collection, a model admin's add page; on a class-based view it must be a
staticmethod), and reports how many rows it answered:

    bulk_reads.returned(request, len(page))

gridmap.middleware.BulkReadMiddleware does the rest, the same way for every such view (a
viewset's one-record route and every method but GET/HEAD are not bulk reads):

- before the view runs, a user who has used up his budget (BULK_READ_MAX_REQUESTS
  requests or BULK_READ_MAX_ROWS rows within the last BULK_READ_WINDOW_SECONDS) gets 429
  with a bilingual message and Retry-After, and the view does no work;
- after a successful (2xx) answer, one audit entry (action bulk_read) with the route, the
  filter (the query parameters, api_key left out) and the number of rows returned.

The audit log is the budget's ledger: every process and machine reads the same rows, so
the limit holds behind any number of app servers, and nothing else needs storing.
"""

import base64
import binascii
import datetime
import logging
import math

from django.conf import settings
from django.db.models import Count, IntegerField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEntry

log = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD")


def declare(label):
    """Mark a function view as a bulk read of personal data (see the module docstring)."""

    def decorator(view):
        view.bulk_read = label
        return view

    return decorator


def declared(request, view_func):
    """Return the label of the bulk read this request makes, or "" when it is not one."""
    if request.method not in SAFE_METHODS:
        return ""
    # DRF's router gives a viewset's list and detail routes functions of their own.
    actions = getattr(view_func, "actions", None)
    if actions is not None and actions.get("get") != "list":
        return ""
    label = getattr(view_func, "bulk_read", None)
    if label is None:
        owner = (
            getattr(view_func, "model_admin", None)  # a ModelAdmin's views
            or getattr(view_func, "cls", None)  # DRF
            or getattr(view_func, "view_class", None)  # Django's class-based views
        )
        label = getattr(owner, "bulk_read", None)
    if callable(label):
        label = label(request)
    return label or ""


def returned(request, rows, user=None):
    """Note how many rows the view answered (and whom it acted as, if not request.user)."""
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    request._bulk_read_rows = int(rows)
    if user is not None:
        request._bulk_read_user = user


def _token_key(request):
    """Return the API token a request carries (Bearer, Basic password or api_key), or ""."""
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(header) == 2 and header[0].lower() in ("bearer", "token"):
        return header[1]
    if len(header) == 2 and header[0].lower() == "basic":
        try:
            decoded = base64.b64decode(header[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return request.GET.get("api_key", "").strip()


def requester(request):
    """Return the user a request acts as before any view has authenticated it, or None.

    An API token first (the API views try it before the session when both are sent),
    else the session's user. An invalid token gives None: the view refuses the request.
    """
    from accounts.services import token_for_key

    key = _token_key(request)
    if key:
        token = token_for_key(key)
        return token.user if token is not None else None
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def retry_after(user, now=None):
    """Return in how many seconds the user may bulk-read again, or None if he may now."""
    now = now or timezone.now()
    window = datetime.timedelta(seconds=settings.BULK_READ_WINDOW_SECONDS)
    recent = AuditEntry.objects.filter(
        user=user, action=AuditEntry.Action.BULK_READ, at__gt=now - window
    )
    rows = Cast(KT("detail__rows"), IntegerField())
    used = recent.aggregate(requests=Count("pk"), rows=Sum(rows))
    max_requests, max_rows = settings.BULK_READ_MAX_REQUESTS, settings.BULK_READ_MAX_ROWS
    if used["requests"] < max_requests and (used["rows"] or 0) < max_rows:
        return None
    # Over: find when enough of the oldest reads have left the window for both to fit.
    requests, total = used["requests"], used["rows"] or 0
    for at, n in recent.order_by("at").values_list("at", "detail__rows"):
        requests -= 1
        total -= n or 0
        if requests < max_requests and total < max_rows:
            return max(1, math.ceil((at + window - now).total_seconds()))
    return settings.BULK_READ_WINDOW_SECONDS


def _wants_page(request):
    api = request.path.startswith(("/api/", "/ogcapi/", "/open311/"))
    return not api and "text/html" in request.headers.get("Accept", "")


def refusal(request, seconds):
    """Return the 429 answer for a user over his bulk-read budget."""
    message = (
        f"批量读取个人信息过于频繁，请 {seconds} 秒后再试 / too many bulk reads of personal "
        f"data: retry in {seconds} seconds"
    )
    if _wants_page(request):
        response = render(request, "accounts/error.html", {"message": message}, status=429)
    else:
        response = JsonResponse(
            {"detail": message, "code": "bulk_read_limit", "retry_after": seconds}, status=429
        )
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response


def record(request, label, response, user=None):
    """Write the audit entry of one successful bulk read.

    It is charged to whom the view acted as: the user it reported, else request.user (DRF
    sets it to a token's service account), else `user` (the requester found beforehand).
    """
    candidates = (getattr(request, "_bulk_read_user", None), getattr(request, "user", None), user)
    user = next((u for u in candidates if u is not None and u.is_authenticated), None)
    if user is None:
        return None
    rows = getattr(request, "_bulk_read_rows", None)
    match = getattr(request, "resolver_match", None)
    if rows is None:
        log.warning("bulk read without a row count: %s", match.view_name if match else "")
    return audit.record(
        user=user,
        action=AuditEntry.Action.BULK_READ,
        request=request,
        detail={
            "route": match.view_name if match else "",
            "data": label,
            "query": audit.query_of(request),
            "rows": rows,
            "status": response.status_code,
        },
    )
