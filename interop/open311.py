"""Open311 GeoReport v2 at /open311/v2/, for the 12345 hotline and FixMyStreet-style clients.

Endpoints (each as .json and .xml):
    discovery                  the discovery document
    services                   the case categories (public)
    services/{service_code}    a service definition (the attribute `urgency`)
    requests        GET        service requests, with the spec's filters (api_key needed)
    requests        POST       submit a service request (api_key with scope cases:create)
    requests/{id}   GET        one service request (api_key needed)

``api_key`` is an accounts API token (also accepted as ``Authorization: Bearer …``); the
token's service account bounds the requests it may read (area scoping), and the token's
scopes what it may do: cases:create to submit, cases:read to read. A logged-in session may
read as well. Reading needs a key, unlike the spec's public example: these are citizens'
petitions and disputes.

Intake goes through cases.services.case_register, like every other intake: the grid,
community and street follow from the location, an ``Idempotency-Key`` header makes a
retried POST return the first case, and open cases of the same category within 100 m
(cases.selectors.duplicates) are reported in ``service_notice``.

Extensions (optional POST parameters): ``crs`` (wgs84 default, gcj02, bd09) for lat/long
from Chinese map apps; ``source`` (default hotline_12345); ``address_id`` may name a
rental house code (the standard address) instead of lat/long; ``attribute[urgency]``.

Errors follow the spec: a list of {code, description}, with 400, 403 and 404; the
descriptions are bilingual ("中文 / English").
"""

import json
import math
import re
from datetime import timedelta
from xml.etree import ElementTree as ET

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts import bulk_reads
from accounts import services as account_services
from accounts.scoping import scope
from cases import selectors, services
from cases.models import (
    Assignment,
    Attachment,
    CaseEvent,
    Category,
    Source,
    Status,
    Urgency,
)
from interop.params import ParamError, parse_when
from layers.models import District, RentalHouse

SPEC = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
CLOSED = {Status.CLOSED, Status.REFUSED, Status.MERGED}
# When this endpoint's interface last changed (the discovery document's changeset).
CHANGESET_DATE = "2026-11-28"
MAX_RESULTS = 1000
DEFAULT_DAYS = 90
MAX_DESCRIPTION = 4000

URGENCY_NAMES = {
    Urgency.NORMAL: "一般 / normal",
    Urgency.URGENT: "紧急 / urgent",
    Urgency.CRITICAL: "特急 / critical",
}
STATUS_NOTES = {
    Status.REGISTERED: "已登记，待受理 / registered, awaiting acceptance",
    Status.ACCEPTED: "已受理，待派遣 / accepted, awaiting dispatch",
    Status.DISPATCHED: "已派遣，{level}级办理 / dispatched, handled at {level_en} level",
    Status.IN_PROGRESS: "正在处置，{level}级办理 / being handled at {level_en} level",
    Status.RESOLVED: "已办结，待核查 / resolved, awaiting verification",
    Status.VERIFIED: "已核查，待回访 / verified, awaiting the callback",
    Status.CALLED_BACK: "已回访，待结案 / called back, about to close",
    Status.CLOSED: "已结案 / closed",
    Status.REFUSED: "不予受理：{reason} / refused: {reason}",
    Status.MERGED: "已与 {into} 合并办理 / merged into {into}",
}
INTAKE_AGENCY = "西山区网格化服务管理中心"
LEVELS = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}


class Open311Error(Exception):
    def __init__(self, status, description):
        super().__init__(description)
        self.status = status
        self.description = description


def _bad(description):
    return Open311Error(400, description)


# --- rendering ---------------------------------------------------------------------------


def _value(value):
    if hasattr(value, "isoformat"):
        if hasattr(value, "tzinfo") and timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="seconds") if hasattr(value, "hour") else value.isoformat()
    return value


# Characters XML 1.0 does not allow, even escaped (a pasted description may hold them).
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value):
    value = _value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return XML_ILLEGAL.sub("", str(value))


def _xml_fill(element, data):
    for key, value in data.items():
        child = ET.SubElement(element, key)
        if isinstance(value, dict):
            _xml_fill(child, value)
        elif isinstance(value, list):
            item_tag = XML_ITEMS.get(key, "item")
            for item in value:
                sub = ET.SubElement(child, item_tag)
                if isinstance(item, dict):
                    _xml_fill(sub, item)
                else:
                    sub.text = _xml_text(item)
        else:
            child.text = _xml_text(value)


# Element name of the items of a list field, as the spec's XML examples have them.
XML_ITEMS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def render(fmt, data, *, root, item=None, status=200):
    """Return the response in JSON or XML; `data` is a list (of `item`s) or one dict."""
    if fmt == "xml":
        element = ET.Element(root)
        if isinstance(data, list):
            for row in data:
                _xml_fill(ET.SubElement(element, item), row)
        else:
            _xml_fill(element, data)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
            element, encoding="utf-8", xml_declaration=False
        )
    else:
        body = json.dumps(_jsonable(data), ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8"
        )
    return HttpResponse(body, status=status, content_type=FORMATS[fmt])


def _jsonable(data):
    if isinstance(data, list):
        return [_jsonable(v) for v in data]
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    return _value(data)


def error(fmt, status, description):
    fmt = fmt if fmt in FORMATS else "json"
    return render(
        fmt,
        [{"code": status, "description": description}],
        root="errors",
        item="error",
        status=status,
    )


def endpoint(view):
    """Check the format, turn Open311Error into the spec's error answer."""

    def wrapped(request, *args, fmt, **kwargs):
        if fmt not in FORMATS:
            return error(
                "json",
                400,
                f"不支持的格式“{fmt}”，请用 .json 或 .xml / unsupported format "
                f"{fmt!r}: use .json or .xml",
            )
        try:
            return view(request, *args, fmt=fmt, **kwargs)
        except Open311Error as exc:
            return error(fmt, exc.status, exc.description)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return csrf_exempt(wrapped)


# --- auth --------------------------------------------------------------------------------


def _key(request, data=None):
    key = (data or {}).get("api_key") or request.GET.get("api_key")
    if not key:
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(header) == 2 and header[0].lower() in ("bearer", "token"):
            key = header[1]
    return (key or "").strip()


def _caller(request, scope_name, data=None, allow_session=False):
    """Return the user an api_key (or, for reads, a session) acts as; raise 403 otherwise."""
    key = _key(request, data)
    if key:
        token = account_services.token_for_key(key)
        if token is None:
            raise Open311Error(403, "api_key 无效或已过期 / api_key is invalid or expired")
        if not token.allows(scope_name):
            raise Open311Error(
                403, f"api_key 无此权限（需要 {scope_name}） / api_key lacks the scope {scope_name}"
            )
        return token.user
    if allow_session and request.user.is_authenticated:
        return request.user
    raise Open311Error(403, "缺少 api_key / api_key is required")


def _check_jurisdiction(request, data=None):
    jurisdiction = (data or {}).get("jurisdiction_id") or request.GET.get("jurisdiction_id")
    if jurisdiction and not District.objects.filter(code=jurisdiction).exists():
        raise Open311Error(
            404, f"辖区“{jurisdiction}”不存在 / jurisdiction_id {jurisdiction!r} not found"
        )


# --- discovery and services --------------------------------------------------------------


@endpoint
def discovery(request, *, fmt):
    """The discovery document: where the endpoint is and what it speaks."""
    base = request.build_absolute_uri("/open311/v2/").rstrip("/")
    changeset = f"{CHANGESET_DATE}T00:00:00+08:00"
    return render(
        fmt,
        {
            "changeset": changeset,
            "contact": "西山区网格化服务管理中心 / Xishan district grid-management centre",
            "key_service": "向管理员申请接口令牌（权限 cases:create / cases:read） / ask the "
            "administrator for an API token (scopes cases:create, cases:read)",
            "endpoints": [
                {
                    "specification": SPEC,
                    "url": base,
                    "changeset": changeset,
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        },
        root="discovery",
    )


def _service(category):
    days = category.limit_working_days
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{category.name}（办理时限 {days} 个工作日） / "
        f"{category.name_en or category.name} (time limit {days} working days)",
        "metadata": True,
        "type": "realtime",
        "keywords": category.name_en or "",
        "group": "",
    }


@endpoint
def service_list(request, *, fmt):
    """The case categories as Open311 services."""
    _check_jurisdiction(request)
    rows = [_service(c) for c in Category.objects.filter(active=True)]
    return render(fmt, rows, root="services", item="service")


@endpoint
def service_definition(request, service_code, *, fmt):
    """A service definition: the attributes a request of this service may carry."""
    _check_jurisdiction(request)
    category = Category.objects.filter(code=service_code, active=True).first()
    if category is None:
        raise Open311Error(
            404, f"服务“{service_code}”不存在 / service_code {service_code!r} not found"
        )
    return render(
        fmt,
        {
            "service_code": category.code,
            "attributes": [
                {
                    "variable": True,
                    "code": "urgency",
                    "datatype": "singlevaluelist",
                    "required": False,
                    "datatype_description": "紧急程度，默认一般 / urgency, normal by default",
                    "order": 1,
                    "description": "紧急程度 / Urgency",
                    "values": [{"key": k, "name": v} for k, v in URGENCY_NAMES.items()],
                }
            ],
        },
        root="service_definition",
    )


# --- service requests: reads -------------------------------------------------------------


def _requests_queryset(user):
    return (
        selectors.cases_visible_to(user)
        .select_related(
            "category", "rental_house", "merged_into", "community", "street", "grid__community"
        )
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=Assignment.objects.filter(active=True, role="lead").select_related(
                    "worker", "unit"
                ),
                to_attr="leads",
            ),
            Prefetch(
                "attachments",
                queryset=Attachment.objects.order_by("at", "id"),
                to_attr="media",
            ),
        )
    )


def _refusals(cases):
    ids = [c.pk for c in cases if c.status == Status.REFUSED]
    if not ids:
        return {}
    notes = {}
    for case_id, note in CaseEvent.objects.filter(case_id__in=ids, action="refuse").values_list(
        "case_id", "note"
    ):
        notes[case_id] = note
    return notes


def _status_notes(case, refusals, now):
    level = case.level or ""
    text = STATUS_NOTES.get(case.status, case.status).format(
        level=LEVELS.get(level, level),
        level_en=level,
        reason=refusals.get(case.pk, ""),
        into=case.merged_into.number if case.merged_into_id else "",
    )
    if case.status not in CLOSED and case.deadline and case.deadline < now:
        if case.status in services.RUNNING_STATUSES:
            text += "；已超期 / overdue"
    return text


def _agency(case):
    lead = case.leads[0] if getattr(case, "leads", None) else None
    if lead is None and case.status in (
        Status.REGISTERED,
        Status.ACCEPTED,
        Status.REFUSED,
        Status.MERGED,
    ):
        return INTAKE_AGENCY
    return selectors.handler_unit_name(case, lead)


def _request_row(request, case, refusals, now):
    media = getattr(case, "media", None)
    return {
        "service_request_id": case.number,
        "status": "closed" if case.status in CLOSED else "open",
        "status_notes": _status_notes(case, refusals, now),
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": case.description,
        "agency_responsible": _agency(case),
        "service_notice": "",
        "requested_datetime": case.reported_at,
        "updated_datetime": case.updated_at,
        "expected_datetime": case.deadline,
        "address": case.address or "",
        "address_id": case.rental_house.code if case.rental_house_id else None,
        "zipcode": None,
        "lat": round(case.location.y, 7),
        "long": round(case.location.x, 7),
        "media_url": request.build_absolute_uri(f"/cases/attachments/{media[0].pk}/")
        if media
        else None,
    }


def _rows(request, cases):
    now = timezone.now()
    refusals = _refusals(cases)
    return [_request_row(request, c, refusals, now) for c in cases]


def _list(raw):
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def _get_requests(request, fmt):
    params = request.GET
    _check_jurisdiction(request)
    user = _caller(request, "cases:read", allow_session=True)
    qs = _requests_queryset(user)
    ids = _list(params.get("service_request_id", ""))
    if ids:
        # The spec: with service_request_id, every other filter is ignored.
        if len(ids) > MAX_RESULTS:
            raise _bad(f"最多 {MAX_RESULTS} 个编号 / at most {MAX_RESULTS} ids")
        cases = list(qs.filter(number__in=ids).order_by("-reported_at", "-pk"))
        bulk_reads.returned(request, len(cases), user=user)
        return render(fmt, _rows(request, cases), root="service_requests", item="request")
    codes = _list(params.get("service_code", ""))
    if codes:
        qs = qs.filter(category__code__in=codes)
    statuses = _list(params.get("status", "").lower())
    if statuses:
        unknown = sorted(set(statuses) - {"open", "closed"})
        if unknown:
            raise _bad(
                f"status 应为 open 或 closed，而不是 {', '.join(unknown)} / status must be "
                f"open or closed, not {', '.join(unknown)}"
            )
        if statuses == ["open"] or set(statuses) == {"open"}:
            qs = qs.exclude(status__in=CLOSED)
        elif set(statuses) == {"closed"}:
            qs = qs.filter(status__in=CLOSED)
    try:
        start = parse_when(params["start_date"], "start_date") if params.get("start_date") else None
        end = (
            parse_when(params["end_date"], "end_date", end=True) if params.get("end_date") else None
        )
    except ParamError as exc:
        raise _bad(exc.message) from None
    if start and end and start > end:
        raise _bad("start_date 晚于 end_date / start_date is after end_date")
    if start is None and end is None:
        start = timezone.now() - timedelta(days=DEFAULT_DAYS)
    if start:
        qs = qs.filter(reported_at__gte=start)
    if end:
        qs = qs.filter(reported_at__lte=end)
    cases = list(qs.order_by("-reported_at", "-pk")[:MAX_RESULTS])
    bulk_reads.returned(request, len(cases), user=user)
    return render(fmt, _rows(request, cases), root="service_requests", item="request")


@endpoint
def request_detail(request, request_id, *, fmt):
    """One service request, by its id (the case number)."""
    if request.method not in ("GET", "HEAD"):
        raise Open311Error(405, "仅支持 GET / only GET is allowed")
    _check_jurisdiction(request)
    user = _caller(request, "cases:read", allow_session=True)
    cases = list(_requests_queryset(user).filter(number=request_id)[:1])
    if not cases:
        raise Open311Error(
            404,
            f"服务请求“{request_id}”不存在或不在您的辖区 / service_request_id {request_id!r} "
            "not found",
        )
    return render(fmt, _rows(request, cases), root="service_requests", item="request")


# --- service requests: POST --------------------------------------------------------------


def _post_data(request):
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise _bad("请求体不是有效的 JSON / the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _bad("请求体应为 JSON 对象 / the body must be a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    try:
        return {k: request.POST.get(k, "") for k in request.POST}
    except MultiPartParserError:
        raise _bad("请求体无法解析 / the body cannot be parsed") from None


def _coordinate(data, name, low, high):
    raw = (data.get(name) or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise _bad(f"{name} 应为数字 / {name} must be a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _bad(f"{name} 超出范围 / {name} is out of range ({low}..{high})")
    return value


def _location(data, user):
    """Return (point, rental house or None) from lat/long or address_id."""
    has_lat, has_long = bool(data.get("lat", "").strip()), bool(data.get("long", "").strip())
    house = None
    address_id = data.get("address_id", "").strip()
    if address_id:
        house = scope(user, RentalHouse.objects.all()).filter(code=address_id).first()
        if house is None:
            raise _bad(
                f"address_id“{address_id}”不是已登记的出租房屋编码 / address_id {address_id!r} "
                "is not a known rental house code"
            )
    if has_lat != has_long:
        raise _bad("lat 与 long 须同时提供 / lat and long must be given together")
    if has_lat:
        lat = _coordinate(data, "lat", -90, 90)
        lon = _coordinate(data, "long", -180, 180)
        try:
            return services.to_point(lon, lat, data.get("crs") or "wgs84"), house
        except services.CaseError as exc:
            raise _bad(exc.message) from None
    if house is not None:
        return house.location, house
    raise _bad(
        "需要位置：lat/long 或 address_id（出租房屋编码）；仅有 address_string 无法定位 / a "
        "location is required: lat/long or address_id (a rental house code); "
        "address_string alone cannot be located"
    )


def _check_email(data):
    """Refuse an email that is given but is not an email address (the spec's optional field)."""
    email = (data.get("email") or "").strip()
    if not email:
        return
    try:
        validate_email(email)
    except DjangoValidationError:
        shown = email[:80] + ("…" if len(email) > 80 else "")
        raise _bad(
            f"email“{shown}”不是有效的电子邮件地址 / email {shown!r} is not a valid email address"
        ) from None


def _party(data):
    name = f"{data.get('last_name', '').strip()}{data.get('first_name', '').strip()}"
    phone = data.get("phone", "").strip()
    if not name and not phone:
        return []
    return [{"name": (name or "来电人")[:50], "phone": phone, "role": "applicant"}]


def _notice(case, user):
    found = selectors.duplicates(
        category=case.category, location=case.location, user=user, exclude=case
    )
    if not found:
        return ""
    numbers = "、".join(c.number for c in found[:5])
    return (
        f"附近 100 米内 30 天内有同类未结案件：{numbers}，可能重复 / possible duplicate of "
        f"{numbers.replace('、', ', ')} (same category, within 100 m, last 30 days)"
    )


def _post_request(request, fmt):
    data = _post_data(request)
    _check_jurisdiction(request, data)
    user = _caller(request, "cases:create", data)
    if not selectors.may_register(user):
        raise Open311Error(
            403, "此 api_key 的账号不能登记案件 / this api_key's account may not submit requests"
        )
    code = data.get("service_code", "").strip()
    if not code:
        raise _bad("缺少 service_code / service_code is required")
    category = Category.objects.filter(code=code, active=True).first()
    if category is None:
        raise Open311Error(404, f"服务“{code}”不存在 / service_code {code!r} not found")
    description = data.get("description", "").strip()
    if not description:
        raise _bad("缺少 description（情况描述） / description is required")
    if len(description) > MAX_DESCRIPTION:
        raise _bad(
            f"description 不能超过 {MAX_DESCRIPTION} 个字符 / description must be at most "
            f"{MAX_DESCRIPTION} characters"
        )
    urgency = (data.get("attribute[urgency]") or Urgency.NORMAL).strip()
    if urgency not in Urgency.values:
        raise _bad(
            f"attribute[urgency] 应为 {', '.join(Urgency.values)} / attribute[urgency] must be "
            f"one of {', '.join(Urgency.values)}"
        )
    source = (data.get("source") or Source.HOTLINE_12345).strip()
    if source not in Source.values:
        raise _bad(
            f"source 应为 {', '.join(Source.values)} / source must be one of "
            f"{', '.join(Source.values)}"
        )
    # The intake rule of every channel: which sources the key's account may register.
    refusal = selectors.intake_refusal(user, source=source)
    if refusal is not None:
        raise Open311Error(refusal.status, refusal.message)
    _check_email(data)
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if len(key) > 80:
        raise _bad("Idempotency-Key 不能超过 80 个字符 / Idempotency-Key is at most 80 characters")
    location, house = _location(data, user)
    address = (data.get("address_string") or "").strip()[:200]
    media_url = (data.get("media_url") or "").strip()
    note = "Open311 接口登记 / via Open311" + (
        f"；media_url: {media_url[:500]}" if media_url else ""
    )
    try:
        with transaction.atomic():
            case, created = services.case_register(
                source=source,
                category=category,
                description=description,
                location=location,
                by=user,
                urgency=urgency,
                address=address,
                rental_house=house,
                parties=_party(data),
                idempotency_key=key or None,
                note=note,
            )
    except services.CaseError as exc:
        raise _bad(exc.message) from None
    row = {
        "service_request_id": case.number,
        "service_notice": _notice(case, user),
        "account_id": None,
    }
    return render(
        fmt, [row], root="service_requests", item="request", status=201 if created else 200
    )


# A search of citizens' requests (GET) is a bulk read of personal data: audited and
# rate-limited by gridmap.middleware.BulkReadMiddleware.
@bulk_reads.declare("cases")
@endpoint
def requests(request, *, fmt):
    """GET: search service requests. POST: submit one."""
    if request.method == "POST":
        return _post_request(request, fmt)
    if request.method in ("GET", "HEAD"):
        return _get_requests(request, fmt)
    raise Open311Error(405, "仅支持 GET 与 POST / only GET and POST are allowed")
