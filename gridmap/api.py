"""Shared pieces of the REST API."""

import logging

from django.db import InterfaceError, OperationalError
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts import bulk_reads

log = logging.getLogger(__name__)


class Pagination(LimitOffsetPagination):
    """limit/offset pages that tell the bulk-read audit how many rows they answered."""

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        if page is not None:
            bulk_reads.returned(request, len(page))
        return page


class ErrorSerializer(serializers.Serializer):
    """An error answer: one bilingual message (the OpenAPI schema of DRF's {"detail": …})."""

    detail = serializers.CharField(help_text="错误信息（多为中英双语） / error message")


def exception_handler(exc, context):
    """Answer database outages with 503 and a bilingual message instead of a 500."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("database unavailable: %s", exc)
        return Response(
            {"detail": "数据库暂时不可用，请稍后重试 / Database unavailable, retry shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, RecursionError):
        # json.load on "[[[[…" thousands deep: bad input, not a server error.
        return Response(
            {"detail": "请求体嵌套过深 / the request body is nested too deeply"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, ParseError):
        exc.detail = f"请求体格式错误 / malformed request body: {exc.detail}"
    return drf_exception_handler(exc, context)
