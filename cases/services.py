"""Writes of cases: intake, every workflow action, dispatch, and the time-limit job's steps.

Each workflow action is one function here (case_accept, case_dispatch, …). Every one of them
locks the case row (SELECT … FOR UPDATE), checks that the caller saw the current version
(optimistic concurrency: of two dispatchers acting on the same case, exactly one wins and
the other gets CaseChanged), checks that the action is allowed in the case's state
(IllegalAction otherwise), and writes a CaseEvent (who, when, from, to, note) in the same
transaction as the change.
"""

import mimetypes
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from cases import selectors, sql
from cases.models import (
    LEVEL_ORDER,
    OPEN_STATUSES,
    Assignment,
    Attachment,
    Callback,
    Case,
    CaseEvent,
    Consultation,
    HandlerKind,
    HandlerRole,
    HandlerUnit,
    Level,
    Party,
    Status,
    TimeUnit,
    Urgency,
)
from gridmap import pii
from layers.services import assign_areas

# --- errors ------------------------------------------------------------------------------


class CaseError(Exception):
    """A refused write, with a bilingual message ("中文 / English")."""

    code = "case_error"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class IllegalAction(CaseError):
    code = "illegal_action"


class CaseChanged(CaseError):
    code = "case_changed"


class NotAllowed(CaseError):
    """The caller may not do this (his role, or the separation of duties): a 403."""

    code = "not_allowed"


# --- the state machine -------------------------------------------------------------------

S = Status
ACTION_NAMES = {
    "register": ("登记", "register"),
    "accept": ("受理", "accept"),
    "refuse": ("不予受理", "refuse"),
    "dispatch": ("派遣", "dispatch"),
    "start": ("开始处置", "start"),
    "resolve": ("办结", "resolve"),
    "verify": ("核查", "verify"),
    "callback": ("回访", "call back"),
    "close": ("结案", "close"),
    "return": ("退回", "return"),
    "reopen": ("重办", "reopen"),
    "escalate": ("上报", "escalate"),
    "merge": ("合并", "merge"),
}
STATUS_NAMES = {
    S.REGISTERED: "已登记",
    S.ACCEPTED: "已受理",
    S.REFUSED: "不予受理",
    S.DISPATCHED: "已派遣",
    S.IN_PROGRESS: "处置中",
    S.RESOLVED: "已办结",
    S.VERIFIED: "已核查",
    S.CALLED_BACK: "已回访",
    S.CLOSED: "已结案",
    S.MERGED: "已合并",
}
LEVEL_NAMES = {
    Level.GRID: "网格",
    Level.COMMUNITY: "社区",
    Level.STREET: "街道",
    Level.DISTRICT: "区",
}
# action -> {from state: to state}. Register creates a case, so no state allows it.
TRANSITIONS = {
    "register": {},
    "accept": {S.REGISTERED: S.ACCEPTED},
    "refuse": {S.REGISTERED: S.REFUSED},
    # Dispatching an already dispatched case is a reassignment by hand.
    "dispatch": {S.ACCEPTED: S.DISPATCHED, S.DISPATCHED: S.DISPATCHED, S.IN_PROGRESS: S.DISPATCHED},
    "start": {S.DISPATCHED: S.IN_PROGRESS},
    "resolve": {S.IN_PROGRESS: S.RESOLVED},
    "verify": {S.RESOLVED: S.VERIFIED},
    "callback": {S.VERIFIED: S.CALLED_BACK},
    "close": {S.CALLED_BACK: S.CLOSED},
    # The handler gives the case back to the dispatcher.
    "return": {S.DISPATCHED: S.ACCEPTED, S.IN_PROGRESS: S.ACCEPTED},
    # After an unsatisfied callback, or when the verification finds it not done.
    "reopen": {S.CALLED_BACK: S.IN_PROGRESS, S.RESOLVED: S.IN_PROGRESS},
    "escalate": {S.ACCEPTED: S.DISPATCHED, S.DISPATCHED: S.DISPATCHED, S.IN_PROGRESS: S.DISPATCHED},
    "merge": {S.REGISTERED: S.MERGED, S.ACCEPTED: S.MERGED},
}
ACTIONS = tuple(TRANSITIONS)
# States in which the time limit runs (before the handler reports it resolved).
RUNNING_STATUSES = (S.REGISTERED, S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS)


def allowed_actions(status):
    """Return the actions the state machine allows in a state."""
    return [a for a in ACTIONS if status in TRANSITIONS[a]]


def _illegal(action, status):
    zh_a, en_a = ACTION_NAMES[action]
    zh_s = STATUS_NAMES.get(status, status)
    return IllegalAction(
        f"案件当前状态为“{zh_s}”，不能执行“{zh_a}” / a case that is {status} cannot be {en_a}ed"
        if action != "register"
        else "案件已登记，不能重复登记 / the case is already registered",
        code="illegal_action",
    )


def _lock(case, action, version, by=None):
    """Return the case locked for update, after the version, state and permission checks."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    expected = case.version if version is None else int(version)
    if locked.version != expected:
        raise CaseChanged(
            "案件已被他人修改，请刷新后重试 / the case has changed since you opened it; "
            "reload it and try again",
            code="case_changed",
        )
    if locked.status not in TRANSITIONS[action]:
        raise _illegal(action, locked.status)
    _authorise(by, action, locked)
    return locked


def _authorise(by, action, case):
    """Refuse an action the user may not take (what the pages and the API check first).

    Defence in depth: a caller that forgets selectors.user_may still cannot let a grid
    worker dispatch, or the person who resolved a case verify it. Without a user (the
    periodic job, imports) there is nobody to check.
    """
    if by is None or not by.is_authenticated:
        return
    refusal = selectors.action_refusal(by, action, case)
    if refusal is not None:
        raise NotAllowed(refusal.message, code=refusal.code)


def _event(case, action, frm, to, by, note="", at=None):
    return CaseEvent.objects.create(
        case=case,
        action=action,
        from_status=frm,
        to_status=to,
        actor=by if by is not None and by.is_authenticated else None,
        note=note or "",
        at=at or timezone.now(),
    )


def _move(case, action, by, note="", to=None, at=None):
    """Put the locked case into its next state, bump its version, write the event."""
    frm = case.status
    case.status = to or TRANSITIONS[action][frm]
    case.version += 1
    case.save()
    return _event(case, action, frm, case.status, by, note, at)


def _sync(target, source):
    """Copy the saved state of `source` onto the caller's instance."""
    for field in Case._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def _need_reason(note, zh, en):
    note = (note or "").strip()
    if not note:
        raise CaseError(f"请填写{zh} / {en} is required", code="reason_required")
    return note


# --- time limits -------------------------------------------------------------------------


def compute_deadline(category, urgency, start, calendar=None):
    """Return the deadline of a case of the category and urgency that starts at `start`."""
    calendar = calendar or selectors.work_calendar()
    limit = selectors.time_limit(category, urgency)
    if limit.unit == TimeUnit.WORKING_HOURS:
        return calendar.add_working_hours(start, limit.amount)
    return calendar.add_working_days(start, limit.amount)


def _start_stage(case, now, calendar=None):
    case.stage_started_at = now
    case.stage_deadline = compute_deadline(case.category, case.urgency, now, calendar)


# --- intake ------------------------------------------------------------------------------

ALLOWED_ATTACHMENT_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
MAX_ATTACHMENT_BYTES = getattr(settings, "CASES_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
MAX_ATTACHMENTS = 10


def check_attachment(upload):
    """Return the content type of an upload after checking its type and size, or raise."""
    size = upload.size or 0
    if size > MAX_ATTACHMENT_BYTES:
        mb = MAX_ATTACHMENT_BYTES // (1024 * 1024)
        raise CaseError(
            f"附件“{upload.name}”超过 {mb} MB / the attachment {upload.name!r} exceeds {mb} MB",
            code="attachment_too_large",
        )
    if size == 0:
        raise CaseError(
            f"附件“{upload.name}”是空文件 / the attachment {upload.name!r} is empty",
            code="attachment_empty",
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for content_type, magics in ALLOWED_ATTACHMENT_TYPES.items():
        if any(head.startswith(m) for m in magics):
            if content_type == "image/webp" and head[8:12] != b"WEBP":
                continue
            guessed = mimetypes.guess_type(upload.name or "")[0]
            if guessed not in ALLOWED_ATTACHMENT_TYPES:
                # The name must agree with the content, so downloads open as what they are.
                break
            return content_type
    raise CaseError(
        f"附件“{upload.name}”类型不允许，只接受 JPEG/PNG/GIF/WebP 图片或 PDF / "
        f"the attachment {upload.name!r} is not allowed: only JPEG, PNG, GIF, WebP images "
        f"or PDF",
        code="attachment_type",
    )


@dataclass
class PartyInput:
    name: str
    phone: str = ""
    id_number: str = ""
    role: str = Party.Role.APPLICANT


def _party(case, data):
    if isinstance(data, dict):
        data = PartyInput(**data)
    name = (data.name or "").strip()
    if not name:
        raise CaseError("当事人姓名不能为空 / a party's name is required", code="party_name")
    party = Party(case=case, name=name[:50], role=data.role or Party.Role.APPLICANT)
    try:
        if data.phone:
            phone = pii.validate_phone(data.phone)
            party.phone_cipher = pii.encrypt(phone)
            party.phone_digest = pii.digest(phone)
            party.phone_masked = pii.mask_phone(phone)
        if data.id_number:
            number = pii.validate_id_number(data.id_number)
            party.id_number_cipher = pii.encrypt(number)
            party.id_number_digest = pii.digest(number)
            party.id_number_masked = pii.mask_id_number(number)
    except pii.PIIError as exc:
        raise CaseError(exc.message, code=exc.code) from None
    party.save()
    return party


# (min lon, min lat, max lon, max lat) of China, with a margin: the intake refuses beyond.
CHINA_BBOX = (73.4, 3.3, 135.1, 53.6)


def to_point(lon, lat, crs="wgs84"):
    """Return a storage Point from coordinates in a CRS, or raise CaseError.

    A point outside the district is accepted (it waits in the unassigned queue); empty,
    zero, out-of-range and swapped coordinates are refused.
    """
    import numpy as np

    from layers import crs as crs_lib

    try:
        x, y = crs_lib.to_storage(
            crs_lib.parse_float_array(lon), crs_lib.parse_float_array(lat), crs
        )
    except crs_lib.CRSError as exc:
        raise CaseError(str(exc), code="crs") from None
    code = str(crs_lib.check_coordinates(x, y))
    if code not in (crs_lib.OK, crs_lib.OUTSIDE_DISTRICT):
        raise CaseError(crs_lib.PROBLEM_MESSAGES[code], code="coordinates")
    x, y = float(np.asarray(x)), float(np.asarray(y))
    # Outside the district waits in the unassigned queue; outside China is a mistake.
    if not (CHINA_BBOX[0] <= x <= CHINA_BBOX[2] and CHINA_BBOX[1] <= y <= CHINA_BBOX[3]):
        raise CaseError(
            "坐标不在中国境内，请检查经纬度和坐标系 / the coordinate is outside China; "
            "check lon/lat and the crs",
            code="coordinates",
        )
    return Point(x, y, srid=4326)


def _initial_level(case):
    if case.grid_id:
        return Level.GRID
    if case.community_id:
        return Level.COMMUNITY
    if case.street_id:
        return Level.STREET
    return Level.DISTRICT


def case_for_retry(idempotency_key, by):
    """Return the case that an earlier request with this Idempotency-Key registered.

    A key belongs to the client that first used it: another account's key is refused
    (code "idempotency_conflict"), so that nobody reaches a case outside his area by
    sending a key he guessed. None when the key is new (or empty).
    """
    if not idempotency_key:
        return None
    found = sql.idempotency_owner(idempotency_key)
    if found is None:
        return None
    case_id, owner_id = found
    caller = by.pk if by is not None and by.is_authenticated else None
    if owner_id != caller:
        raise CaseError(
            "该幂等键已被其他客户端使用，请换一个 / this Idempotency-Key was used by another "
            "client: use a new one",
            code="idempotency_conflict",
        )
    return Case.objects.get(pk=case_id)


def case_register(
    *,
    source,
    category,
    description,
    location,
    by=None,
    urgency=Urgency.NORMAL,
    title="",
    address="",
    parties=(),
    attachments=(),
    rental_house=None,
    visitors=1,
    reported_at=None,
    idempotency_key=None,
    key_checked=False,
    note="",
):
    """Register a case (登记); return (case, created).

    The grid, community and street follow from the location (outside every grid: the
    case waits in the unassigned queue). With an idempotency key a retried intake returns
    the case of the first attempt (key_checked: the caller has just asked
    case_for_retry() itself; a race is still caught under the unique index).
    """
    existing = None if key_checked else case_for_retry(idempotency_key, by)
    if existing is not None:
        return existing, False
    if by is not None and by.is_authenticated:
        refusal = selectors.intake_refusal(by, source=source, visitors=visitors)
        if refusal is not None:
            error = NotAllowed if refusal.status == 403 else CaseError
            raise error(refusal.message, code=refusal.code)
    description = (description or "").strip()
    if not description:
        raise CaseError("请填写情况描述 / a description is required", code="description")
    if not isinstance(location, Point):
        raise CaseError("缺少位置 / a location is required", code="location")
    attachments = list(attachments)
    if len(attachments) > MAX_ATTACHMENTS:
        raise CaseError(
            f"附件最多 {MAX_ATTACHMENTS} 个 / at most {MAX_ATTACHMENTS} attachments",
            code="attachment_count",
        )
    types = [check_attachment(f) for f in attachments]
    now = timezone.now()
    reported_at = reported_at or now
    calendar = selectors.work_calendar()
    try:
        with transaction.atomic():
            pk = sql.next_case_id()
            local = timezone.localtime(reported_at)
            case = Case(
                pk=pk,
                number=f"XS{local:%Y%m%d}{pk:08d}",
                source=source,
                category=category,
                urgency=urgency,
                title=(title or "")[:120],
                description=description,
                address=(address or "")[:200],
                visitors=max(1, int(visitors or 1)),
                location=location,
                rental_house=rental_house,
                reported_at=reported_at,
                idempotency_key=idempotency_key or None,
                created_by=by if by is not None and by.is_authenticated else None,
            )
            if rental_house is not None and not case.address:
                case.address = rental_house.address[:200]
            case.deadline = compute_deadline(category, urgency, reported_at, calendar)
            case.stage_started_at = reported_at
            case.stage_deadline = case.deadline
            assign_areas(case)
            case.level = _initial_level(case)
            # A fresh primary key: INSERT straight away (no UPDATE that finds no row).
            case.save(force_insert=True, assign=False)
            for data in parties:
                _party(case, data)
            for upload, content_type in zip(attachments, types, strict=True):
                _attach(case, upload, content_type, by, now)
            _event(case, "register", "", S.REGISTERED, by, note, now)
    except IntegrityError:
        # Another request with the same key won the race under the unique index.
        existing = case_for_retry(idempotency_key, by)
        if existing is not None:
            return existing, False
        raise
    return case, True


def _attach(case, upload, content_type, by, at):
    name = (upload.name or "attachment").rsplit("/", 1)[-1][-120:]
    attachment = Attachment(
        case=case,
        name=name,
        content_type=content_type,
        size=upload.size,
        by=by if by is not None and by.is_authenticated else None,
        at=at,
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    return attachment


# --- the workflow actions ----------------------------------------------------------------


def case_accept(*, case, by, note="", version=None, auto_dispatch=False):
    """Accept a registered case (受理); with auto_dispatch, dispatch it by the rules too."""
    with transaction.atomic():
        locked = _lock(case, "accept", version, by)
        _move(locked, "accept", by, note)
        if auto_dispatch:
            _authorise(by, "dispatch", locked)
            try:
                with transaction.atomic():
                    _dispatch(locked, by, handler=None, assists=(), note="")
            except CaseError:
                # No rule gives a handler: the case waits accepted for a dispatcher.
                locked.refresh_from_db()
    return _sync(case, locked)


def case_refuse(*, case, by, reason, version=None):
    """Refuse a registered case (不予受理), giving the reason."""
    reason = _need_reason(reason, "不予受理的理由", "a reason")
    with transaction.atomic():
        locked = _lock(case, "refuse", version, by)
        _move(locked, "refuse", by, reason)
    return _sync(case, locked)


def case_dispatch(*, case, by, handler=None, assists=(), note="", version=None):
    """Dispatch a case (派遣), by the routing rules or by hand to `handler`.

    `handler` is a GridWorker or a HandlerUnit (the lead, 主办); `assists` are units that
    assist (协办). A dispatched case dispatched again is reassigned: the old handlers step
    down.
    """
    with transaction.atomic():
        locked = _lock(case, "dispatch", version, by)
        _dispatch(locked, by, handler=handler, assists=assists, note=note)
    return _sync(case, locked)


def _dispatch(case, by, *, handler, assists, note, action="dispatch", to=None):
    now = timezone.now()
    case.assignments.filter(active=True).update(active=False)
    if handler is None:
        plan = route(case, case.level)
    else:
        plan = [(HandlerRole.LEAD, handler)] + [(HandlerRole.ASSIST, u) for u in assists]
    lead = None
    seen = set()
    for role, who in plan:
        key = (type(who).__name__, who.pk)
        if key in seen:
            continue
        seen.add(key)
        assignment = Assignment.objects.create(
            case=case,
            role=role,
            level=case.level,
            worker=who if type(who).__name__ == "GridWorker" else None,
            unit=who if isinstance(who, HandlerUnit) else None,
            by=by if by is not None and by.is_authenticated else None,
            at=now,
        )
        if role == HandlerRole.LEAD:
            lead = assignment
    if lead is None:
        raise CaseError(
            "没有找到承办单位，请在后台配置分流规则或手动指定 / no handler found: configure a "
            "routing rule or choose one by hand",
            code="no_handler",
        )
    names = "、".join(
        f"{a.handler_name}（{'主办' if a.role == HandlerRole.LEAD else '协办'}）"
        for a in case.assignments.filter(active=True)
        .select_related("worker", "unit")
        .order_by("-role", "pk")
    )
    full_note = f"{names}" + (f"：{note}" if note else "")
    return _move(case, action, by, full_note, to=to)


def route(case, level):
    """Return [(role, GridWorker or HandlerUnit)] for the case at a level, by the rules."""
    rules = selectors.matching_rules(case, level)
    plan = []
    lead_rule = next((r for r in rules if r.role == HandlerRole.LEAD), None)
    if lead_rule is not None:
        who = _handler_for(case, lead_rule)
        if who is not None:
            plan.append((HandlerRole.LEAD, who))
    if not plan:
        fallback = _area_unit(case, level)
        if fallback is not None:
            plan.append((HandlerRole.LEAD, fallback))
    for rule in rules:
        if rule.role == HandlerRole.ASSIST:
            who = _handler_for(case, rule)
            if who is not None:
                plan.append((HandlerRole.ASSIST, who))
    return plan


def _handler_for(case, rule):
    kind = rule.handler_kind
    if kind == HandlerKind.GRID_WORKER:
        return least_loaded_worker(case.grid_id) if case.grid_id else None
    if kind == HandlerKind.DEPARTMENT:
        return rule.unit
    if rule.unit_id:
        return rule.unit
    if kind == HandlerKind.COMMUNITY_MEDIATION:
        return community_mediation(case.community) if case.community_id else None
    if kind == HandlerKind.STREET_CENTRE:
        return street_centre(case.street) if case.street_id else None
    return None


def _area_unit(case, level):
    """Return the unit of the case's own area that handles it when no rule applies."""
    if level in (Level.GRID, Level.COMMUNITY) and case.community_id:
        return community_mediation(case.community)
    if level in (Level.GRID, Level.COMMUNITY, Level.STREET) and case.street_id:
        return street_centre(case.street)
    return HandlerUnit.objects.filter(kind=HandlerKind.DEPARTMENT, department="justice").first()


def least_loaded_worker(grid_id):
    """Return the worker of the grid with the fewest open cases (ties: lowest id)."""
    from layers.models import GridWorker

    return (
        GridWorker.objects.filter(grids__pk=grid_id)
        .annotate(
            load=Count(
                "assignments",
                filter=Q(
                    assignments__active=True,
                    assignments__case__status__in=OPEN_STATUSES,
                ),
            )
        )
        .order_by("load", "pk")
        .first()
    )


def community_mediation(community):
    unit, _ = HandlerUnit.objects.get_or_create(
        kind=HandlerKind.COMMUNITY_MEDIATION,
        community=community,
        defaults={"name": f"{community.name}人民调解委员会", "street_id": community.street_id},
    )
    return unit


def street_centre(street):
    unit, _ = HandlerUnit.objects.get_or_create(
        kind=HandlerKind.STREET_CENTRE,
        street=street,
        defaults={"name": f"{street.name}综治中心"},
    )
    return unit


def case_start(*, case, by, note="", version=None):
    """Start handling a dispatched case (开始处置; the grid worker's 接单)."""
    with transaction.atomic():
        locked = _lock(case, "start", version, by)
        _move(locked, "start", by, note)
    return _sync(case, locked)


def case_resolve(*, case, by, note="", version=None):
    """Report a case resolved (办结), recording the level that resolved it."""
    with transaction.atomic():
        locked = _lock(case, "resolve", version, by)
        locked.resolved_at = timezone.now()
        locked.resolved_level = locked.level
        _move(locked, "resolve", by, note, at=locked.resolved_at)
    return _sync(case, locked)


def case_verify(*, case, by, note="", version=None):
    """Confirm on the spot that a resolved case is settled (核查)."""
    with transaction.atomic():
        locked = _lock(case, "verify", version, by)
        _move(locked, "verify", by, note)
    return _sync(case, locked)


def case_callback(*, case, by, rating, note="", version=None):
    """Record the resident's satisfaction (回访); 不满意 reopens the case."""
    if rating not in Callback.Rating.values:
        raise CaseError(
            "满意度应为 满意 / 基本满意 / 不满意 / rating must be satisfied, basically or "
            "unsatisfied",
            code="rating",
        )
    with transaction.atomic():
        locked = _lock(case, "callback", version, by)
        now = timezone.now()
        Callback.objects.create(
            case=locked,
            rating=rating,
            note=note or "",
            by=by if by is not None and by.is_authenticated else None,
            at=now,
        )
        label = dict(Callback.Rating.choices)[rating]
        _move(locked, "callback", by, f"{label}" + (f"：{note}" if note else ""), at=now)
        if rating == Callback.Rating.UNSATISFIED:
            _reopen(locked, by, "回访不满意，重办 / unsatisfied callback, reopened")
    return _sync(case, locked)


def case_close(*, case, by, note="", version=None):
    """Close a called-back case (结案)."""
    with transaction.atomic():
        locked = _lock(case, "close", version, by)
        locked.closed_at = timezone.now()
        _move(locked, "close", by, note, at=locked.closed_at)
    return _sync(case, locked)


def case_return(*, case, by, reason, version=None):
    """Give a dispatched case back to the dispatcher (退回), with the reason."""
    reason = _need_reason(reason, "退回理由", "a reason")
    with transaction.atomic():
        locked = _lock(case, "return", version, by)
        locked.assignments.filter(active=True).update(active=False)
        _move(locked, "return", by, reason)
    return _sync(case, locked)


def case_reopen(*, case, by, note="", version=None):
    """Reopen a case (重办) for its handler, with a fresh time limit for the stage."""
    with transaction.atomic():
        locked = _lock(case, "reopen", version, by)
        _reopen(locked, by, note)
    return _sync(case, locked)


def _reopen(case, by, note):
    case.resolved_at = None
    case.resolved_level = ""
    _start_stage(case, timezone.now())
    _move(case, "reopen", by, note, to=S.IN_PROGRESS)


def case_escalate(*, case, by, note="", version=None, now=None):
    """Escalate a case one level up (上报: grid → community → street → district).

    The new level gets a fresh time limit for its stage, from `now`.
    """
    with transaction.atomic():
        locked = _lock(case, "escalate", version, by)
        index = LEVEL_ORDER.index(locked.level)
        if index + 1 >= len(LEVEL_ORDER):
            raise IllegalAction(
                "案件已在区级办理，不能再上报 / the case is already handled at district level",
                code="top_level",
            )
        old = locked.level
        locked.level = LEVEL_ORDER[index + 1]
        _start_stage(locked, now or timezone.now())
        text = f"{LEVEL_NAMES[old]} → {LEVEL_NAMES[locked.level]}" + (f"：{note}" if note else "")
        _dispatch(locked, by, handler=None, assists=(), note=text, action="escalate")
    return _sync(case, locked)


def case_merge(*, case, into, by, note="", version=None):
    """Merge a later report into the original case (合并); the person-visits add up."""
    if into.pk == case.pk:
        raise CaseError("不能与自身合并 / a case cannot be merged into itself", code="merge_self")
    with transaction.atomic():
        locked = _lock(case, "merge", version, by)
        original = Case.objects.select_for_update().get(pk=into.pk)
        if original.status not in OPEN_STATUSES:
            raise CaseError(
                f"原案件 {original.number} 已不在办理中，不能合并 / the original case "
                f"{original.number} is no longer open",
                code="merge_closed",
            )
        locked.merged_into = original
        original.visitors += locked.visitors
        original.version += 1
        original.save(update_fields=["visitors", "version", "updated_at"])
        _move(locked, "merge", by, f"→ {original.number}" + (f"：{note}" if note else ""))
        _event(
            original,
            "merged_report",
            original.status,
            original.status,
            by,
            f"← {locked.number}（+{locked.visitors} 人次）",
        )
    return _sync(case, locked)


ACTION_FUNCTIONS = {
    "accept": case_accept,
    "refuse": case_refuse,
    "dispatch": case_dispatch,
    "start": case_start,
    "resolve": case_resolve,
    "verify": case_verify,
    "callback": case_callback,
    "close": case_close,
    "return": case_return,
    "reopen": case_reopen,
    "escalate": case_escalate,
    "merge": case_merge,
}


# --- notes, photos, difficult disputes ---------------------------------------------------


def case_add_note(*, case, by, note, attachments=()):
    """Add a note (and photos) to a case without changing its state."""
    note = (note or "").strip()
    attachments = list(attachments)
    if not note and not attachments:
        raise CaseError("请填写备注或上传照片 / write a note or add a photo", code="empty_note")
    if len(attachments) > MAX_ATTACHMENTS:
        raise CaseError(
            f"附件最多 {MAX_ATTACHMENTS} 个 / at most {MAX_ATTACHMENTS} attachments",
            code="attachment_count",
        )
    types = [check_attachment(f) for f in attachments]
    now = timezone.now()
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        names = [
            _attach(locked, f, t, by, now).name for f, t in zip(attachments, types, strict=True)
        ]
        text = note + (f"（附件：{'、'.join(names)}）" if names else "")
        return _event(locked, "note", locked.status, locked.status, by, text, now)


def case_flag_difficult(*, case, by, note=""):
    """Flag a case as a difficult dispute (疑难矛盾纠纷)."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status not in OPEN_STATUSES:
            raise _illegal_other("标记疑难", "flag", locked.status)
        locked.difficult = True
        locked.version += 1
        locked.save(update_fields=["difficult", "version", "updated_at"])
        _event(locked, "flag_difficult", locked.status, locked.status, by, note)
    return _sync(case, locked)


def _illegal_other(zh, en, status):
    return IllegalAction(
        f"案件当前状态为“{STATUS_NAMES.get(status, status)}”，不能{zh} / "
        f"a case that is {status} cannot be {en}ged",
        code="illegal_action",
    )


def consultation_convene(*, case, by, experts, note=""):
    """Convene the legal expert team on a difficult dispute (疑难会商)."""
    experts = list(experts)
    if not experts:
        raise CaseError("请选择参加会商的专家 / choose the experts", code="experts")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if not locked.difficult:
            raise CaseError(
                "只有疑难矛盾纠纷才能提请法律专家会商 / only a case flagged difficult goes to "
                "the legal expert team",
                code="not_difficult",
            )
        if locked.status not in OPEN_STATUSES:
            raise _illegal_other("会商", "consult", locked.status)
        now = timezone.now()
        consultation = Consultation.objects.create(
            case=locked,
            convened_at=now,
            convened_by=by if by is not None and by.is_authenticated else None,
        )
        consultation.experts.set(experts)
        names = "、".join(str(e) for e in experts)
        _event(
            locked,
            "consult",
            locked.status,
            locked.status,
            by,
            f"{names}" + (f"：{note}" if note else ""),
            now,
        )
    return consultation


def consultation_record_opinion(*, consultation, by, opinion):
    """Record the expert team's opinion on the case."""
    opinion = _need_reason(opinion, "会商意见", "the opinion")
    with transaction.atomic():
        c = Consultation.objects.select_for_update().get(pk=consultation.pk)
        c.opinion = opinion
        c.opinion_at = timezone.now()
        c.save(update_fields=["opinion", "opinion_at"])
        case = c.case
        _event(case, "opinion", case.status, case.status, by, opinion, c.opinion_at)
    return c


def notification_mark_read(*, user, ids=None):
    """Mark the user's notifications (all, or the given ids) read."""
    qs = user.notifications.filter(read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
