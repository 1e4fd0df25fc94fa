"""Parsing of query parameters shared by the REST API, OGC API – Features and Open311.

Every parser raises ParamError with a bilingual message ("中文 / English"); each protocol
turns it into its own error format.
"""

import math
from datetime import datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


class ParamError(ValueError):
    """A query parameter that cannot be used, with a bilingual message."""

    def __init__(self, param, message):
        super().__init__(message)
        self.param = param
        self.message = message


def parse_bbox(raw, param="bbox"):
    """Return (min_lon, min_lat, max_lon, max_lat) from "a,b,c,d" (or 6 numbers with heights)."""
    problem = (
        f"{param} 应为 最小经度,最小纬度,最大经度,最大纬度（WGS84 度） / {param} must be "
        "min_lon,min_lat,max_lon,max_lat in WGS84 degrees"
    )
    parts = [p.strip() for p in str(raw).split(",")]
    if len(parts) not in (4, 6):
        raise ParamError(param, problem)
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ParamError(param, problem) from None
    if not all(math.isfinite(n) for n in numbers):
        raise ParamError(param, problem)
    if len(numbers) == 6:  # min x, min y, min z, max x, max y, max z: heights are ignored
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    x0, y0, x1, y1 = numbers
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise ParamError(
            param,
            f"{param} 超出经纬度范围（经度 ±180，纬度 ±90） / {param} is outside the lon/lat "
            "range (longitude ±180, latitude ±90)",
        )
    if x0 > x1 or y0 > y1:
        raise ParamError(
            param,
            f"{param} 的最小值大于最大值 / {param} has a minimum larger than its maximum",
        )
    return x0, y0, x1, y1


def parse_int(raw, param, *, default, minimum=0, maximum=None, clamp=False):
    """Return an integer parameter, its default when absent; out of range raises or clamps."""
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 12:
        raise ParamError(
            param, f"{param} 应为不小于 {minimum} 的整数 / {param} must be an integer ≥ {minimum}"
        )
    value = int(text)
    if value < minimum:
        raise ParamError(
            param, f"{param} 应为不小于 {minimum} 的整数 / {param} must be an integer ≥ {minimum}"
        )
    if maximum is not None and value > maximum:
        if clamp:
            return maximum
        raise ParamError(param, f"{param} 不能大于 {maximum} / {param} must be at most {maximum}")
    return value


def parse_when(raw, param, *, end=False):
    """Return an aware datetime from a W3C date-time (or a plain date), or raise ParamError.

    A plain date means its first moment, or with end=True its last, in the local time zone.
    """
    text = str(raw).strip()
    problem = (
        f"{param} 应为 W3C 日期时间，如 2026-03-01T08:00:00+08:00 / {param} must be a W3C "
        "date-time, e.g. 2026-03-01T08:00:00+08:00"
    )
    try:
        value = parse_datetime(text.replace(" ", "+", 1) if "T" in text else text)
    except ValueError:
        raise ParamError(param, problem) from None
    if value is None:
        try:
            day = parse_date(text)
        except ValueError:
            raise ParamError(param, problem) from None
        if day is None:
            raise ParamError(param, problem)
        value = datetime.combine(day, time.max if end else time.min)
    if not 1900 <= value.year <= 2200:
        raise ParamError(param, problem)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value
