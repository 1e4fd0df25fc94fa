"""Refuse request bodies too large to be input, before anything reads them.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when it parses a form itself; the REST
framework reads JSON bodies straight from the stream, so a 500 MB "JSON" would be read
into memory. This middleware answers 413 with a bilingual message from the
Content-Length alone: bodies other than file uploads may be DATA_UPLOAD_MAX_MEMORY_SIZE
(5 MB), multipart uploads MAX_UPLOAD_BYTES plus 1 MB of form fields. (In production the
reverse proxy's client_max_body_size should say the same.)
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from gridmap.outage import wants_json


def limit_for(request):
    if request.content_type == "multipart/form-data":
        return settings.MAX_UPLOAD_BYTES + 1024 * 1024
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestSizeLimitMiddleware:
    """Answer 413 to a request whose declared body is larger than input can be."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = limit_for(request)
        if limit and length > limit:
            mb = limit / (1024 * 1024)
            message = (
                f"请求体过大（{length / (1024 * 1024):.1f} MB，上限 {mb:.0f} MB） / "
                f"request body too large ({length} bytes; the limit is {limit} bytes)"
            )
            if wants_json(request):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
