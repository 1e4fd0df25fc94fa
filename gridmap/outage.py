"""Answer 503 with a clear bilingual message while the database is unreachable, never 500.

Two nets catch a database outage outside the REST API (whose exception handler is in
gridmap/api.py):

- :class:`DatabaseOutageMiddleware` turns OperationalError / InterfaceError raised by a
  view into a 503 page (JSON for API and data URLs) with Retry-After;
- :func:`server_error` is the project's handler500: an outage that strikes inside another
  middleware (the session saved after the view, say) still ends as that 503.

Input nested so deeply that parsing it overflows the stack (RecursionError from json.loads
on "[[[[…") answers 400 the same way, in both nets.

Django reconnects by itself once the database is back (CONN_HEALTH_CHECKS, and broken
connections are closed at the end of each request), so no restart is needed.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.views import defaults

log = logging.getLogger(__name__)

DB_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER = "5"
MESSAGE_ZH = "数据库暂时不可用，请稍后重试"
MESSAGE_EN = "Database unavailable, retry shortly."

PAGE = """<!doctype html>
<html lang="zh-hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10">
<title>服务暂时不可用 / Service unavailable</title>
<style>body{font-family:sans-serif;margin:4rem auto;max-width:36rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem}p{line-height:1.6}.en{color:#555}</style></head>
<body><h1>服务暂时不可用</h1>
<p>数据库暂时不可用，系统正在自动恢复。请稍后重试，本页每 10 秒自动刷新。
您刚才提交的内容如未显示成功，请重新提交（接口调用请携带相同的 Idempotency-Key，不会重复登记）。</p>
<p class="en" lang="en">Service unavailable: the database cannot be reached right now and the system
is recovering by itself. Please retry shortly; this page reloads every 10 seconds. If what you
just submitted was not confirmed, submit it again (API clients: resend with the same
Idempotency-Key; nothing is registered twice).</p></body></html>
"""


def wants_json(request):
    accept = request.headers.get("Accept", "")
    path = request.path
    return (
        path.startswith("/api/")
        or path.startswith("/map/data/")
        or path.startswith("/tiles/")
        or path.endswith(".json")
        or ("application/json" in accept and "text/html" not in accept)
    )


def outage_response(request):
    """Return the 503 answer for a database outage, JSON or HTML as the client expects."""
    if wants_json(request):
        response = JsonResponse({"detail": f"{MESSAGE_ZH} / {MESSAGE_EN}"}, status=503)
    else:
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = RETRY_AFTER
    response["Cache-Control"] = "no-store"
    return response


def nesting_response(request):
    """Return 400 for input nested so deeply that parsing it overflowed the stack."""
    message = "请求内容嵌套过深 / the request is nested too deeply"
    if wants_json(request):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def _drop_broken_connections():
    for conn in connections.all(initialized_only=True):
        try:
            conn.close_if_unusable_or_obsolete()
        except Exception:  # noqa: BLE001 (closing a dead connection may fail too)
            conn.connection = None


class DatabaseOutageMiddleware:
    """Turn a database outage raised by a view into a 503 instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RecursionError):
            return nesting_response(request)
        if not isinstance(exception, DB_ERRORS):
            return None
        log.warning(
            "database unavailable: %s",
            str(exception).strip().splitlines()[0] if str(exception).strip() else "",
            extra={"path": request.path, "method": request.method},
        )
        _drop_broken_connections()
        return outage_response(request)


def server_error(request, *args, **kwargs):
    """handler500: a 503 for a database outage anywhere in the request, else Django's 500."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DB_ERRORS):
        _drop_broken_connections()
        return outage_response(request)
    if isinstance(exc, RecursionError):
        return nesting_response(request)
    return defaults.server_error(request, *args, **kwargs)
