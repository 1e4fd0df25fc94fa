"""Writes of the accounts app: audited reveals of personal data, log-in throttle, API tokens."""

import datetime
import hashlib
import re
import secrets
import unicodedata

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit, scoping, sql
from accounts.models import ApiToken, AuditEntry, LoginThrottle
from gridmap import pii

# kind in the URL -> (model label, {field: (attribute, encrypted)}). Names are kept in
# clear in the database and masked on display; ID numbers and phones are encrypted.
REVEALABLE = {
    "person": (
        "layers.Person",
        {
            "name": ("name", False),
            "id_number": ("id_number_cipher", True),
            "phone": ("phone_cipher", True),
        },
    ),
    "rentalhouse": (
        "layers.RentalHouse",
        {
            "landlord_name": ("landlord_name", False),
            "landlord_phone": ("landlord_phone_cipher", True),
        },
    ),
    "party": (
        "cases.Party",
        {
            "name": ("name", False),
            "id_number": ("id_number_cipher", True),
            "phone": ("phone_cipher", True),
        },
    ),
}
# A reason must hold at least this many letters or digits (a Chinese character counts one),
# counted after normalisation. Four is the shortest reason that says what was done and to
# whom: a verb and its object (核实身份 verify identity, 上门走访 home visit, 消防检查 fire
# check); two or three characters (核查, 看看) state no purpose an auditor could check, and a
# higher minimum would only teach people to pad.
REASON_MIN_LENGTH = 4
REASON_MAX_LENGTH = 500

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt) beyond the format
# characters (Cf): fillers and variation selectors that render as nothing.
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u3164\ufe00-\ufe0f\uffa0"
    "\ufff0-\ufff8\U000e0000-\U000e0fff]"
)


def revealable_model(kind):
    """Return the model class for a kind of the reveal URL, or None."""
    from django.apps import apps

    entry = REVEALABLE.get(kind)
    if entry is None:
        return None
    try:
        return apps.get_model(entry[0])
    except LookupError:
        return None


def normalise_reason(text):
    """Return the reason as it is stored: NFKC, nothing invisible, whitespace collapsed.

    NFKC folds full-width and compatibility forms; format (Cf: zero-width spaces, joiners,
    bidirectional controls, the BOM) and control (Cc) characters and the other
    default-ignorable code points are dropped, except that line breaks and tabs count as
    spaces; runs of whitespace become one space.
    """
    text = unicodedata.normalize("NFKC", str(text or ""))
    kept = []
    for char in _IGNORABLE.sub("", text):
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cf", "Cc"):
            kept.append(char)
    # Again: a removed character may have kept a letter from its combining mark.
    return " ".join(unicodedata.normalize("NFKC", "".join(kept)).split())


def visible_length(text):
    """Return how many letters and digits the text holds (punctuation and symbols aside)."""
    return sum(unicodedata.category(char)[0] in "LN" for char in text)


def clean_reason(reason):
    """Return the stated reason normalised (normalise_reason), or raise ValidationError."""
    raw = str(reason or "")
    # Nobody types a reason this long: refuse it before any work on it.
    if len(raw) > 4 * REASON_MAX_LENGTH:
        raise _reason_too_long()
    reason = normalise_reason(raw)
    if visible_length(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            f"请填写查看原因（至少{REASON_MIN_LENGTH}个汉字、字母或数字） / state the reason "
            f"(at least {REASON_MIN_LENGTH} letters, digits or Chinese characters)",
            code="reason_required",
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise _reason_too_long()
    return reason


def _reason_too_long():
    return ValidationError(
        f"原因不能超过{REASON_MAX_LENGTH}个字 / the reason is too long "
        f"(at most {REASON_MAX_LENGTH} characters)",
        code="reason_too_long",
    )


def reveal(*, user, kind, pk, fields, reason, request=None):
    """Return {field: clear value} of one record, writing an audit entry per field.

    Raises PermissionDenied for a role that may not reveal, Http404 for a record outside
    the user's area (or missing), ValidationError for a bad field list or reason.
    """
    if not scoping.can_reveal(user):
        raise PermissionDenied(
            "您的角色无权查看完整个人信息 / your role may not reveal personal data"
        )
    model = revealable_model(kind)
    if model is None:
        raise ValidationError("不支持的记录类型 / unknown record type", code="kind")
    available = REVEALABLE[kind][1]
    fields = list(dict.fromkeys(fields or available))
    unknown = [name for name in fields if name not in available]
    if unknown:
        raise ValidationError(
            f"不能查看的字段 / unknown fields: {', '.join(unknown)}", code="fields"
        )
    reason = clean_reason(reason)
    with transaction.atomic():
        obj = scoping.get_scoped_or_404(user, model._default_manager.all(), pk=pk)
        values = {}
        for name in fields:
            attribute, encrypted = available[name]
            raw = getattr(obj, attribute)
            if encrypted:
                values[name] = pii.decrypt(raw) if raw else ""
            else:
                values[name] = raw or ""
            audit.record(
                user=user,
                action=AuditEntry.Action.REVEAL,
                obj=obj,
                field=name,
                reason=reason,
                request=request,
            )
    return values


# --- Log-in throttle ----------------------------------------------------------------------


def _throttle_key(username, ip):
    # An unknown address still gets one row (NULLs would never collide in the unique key).
    return (username or "").strip().lower()[:150], ip or "0.0.0.0"


def login_locked_until(username, ip):
    """Return until when log-ins of this user name from this address are locked, or None."""
    name, ip = _throttle_key(username, ip)
    locked_until = (
        LoginThrottle.objects.filter(username=name, ip=ip)
        .values_list("locked_until", flat=True)
        .first()
    )
    if locked_until and locked_until > timezone.now():
        return locked_until
    return None


def login_failed(*, username, ip):
    """Count a failed log-in; lock the user name from this address after too many."""
    name, ip = _throttle_key(username, ip)
    now = timezone.now()
    window = datetime.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row, _created = LoginThrottle.objects.select_for_update().get_or_create(
                    username=name, ip=ip, defaults={"failures": 0, "first_failure_at": now}
                )
                if row.locked_until and row.locked_until > now:
                    return row  # already locked: the lock is not extended
                if row.first_failure_at < now - window or row.locked_until:
                    row.failures = 0
                    row.first_failure_at = now
                    row.locked_until = None
                row.failures += 1
                if row.failures >= settings.LOGIN_FAILURE_LIMIT:
                    row.locked_until = now + datetime.timedelta(seconds=settings.LOGIN_LOCK_SECONDS)
                row.save()
                return row
        except IntegrityError:
            continue  # a concurrent first failure created the row: count again
    return None


def login_succeeded(*, username, ip):
    """Forget the failures of this user name from this address."""
    name, ip = _throttle_key(username, ip)
    LoginThrottle.objects.filter(username=name, ip=ip).delete()


# --- API tokens ---------------------------------------------------------------------------

TOKEN_PREFIX = "gm_"


def hash_token(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def _valid_scopes(scopes):
    """Return the scopes sorted and without repeats, or raise ValidationError."""
    valid = {code for code, _label in ApiToken.SCOPES}
    unknown = sorted(set(scopes or ()) - valid)
    if unknown or not scopes:
        raise ValidationError(
            f"无效的权限范围 / invalid scopes: {', '.join(unknown) or '(none)'}", code="scopes"
        )
    return sorted(set(scopes))


def issue_api_token(*, name, user, scopes, expires_at=None, by=None, request=None, via=""):
    """Create an API token for a service account; return (token, the clear key, shown once).

    Every issue is audited: by `by` when a signed-in user issues it, else as `via` says
    (the command line).
    """
    scopes = _valid_scopes(scopes)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name,
            user=user,
            prefix=prefix,
            key_hash=hash_token(raw),
            scopes=scopes,
            expires_at=expires_at,
        )
        detail = {"scopes": token.scopes, "service_account": user.get_username()}
        if via:
            detail["via"] = via
        audit.record(
            user=by,
            action=AuditEntry.Action.TOKEN,
            obj=token,
            reason="issued",
            request=request,
            detail=detail,
        )
    return token, raw


def revoke_api_token(*, token, by=None, request=None):
    """Revoke a token at once; a token revoked already keeps its first revocation."""
    with transaction.atomic():
        stored = ApiToken.objects.select_for_update().get(pk=token.pk)
        if stored.revoked_at is not None:
            return stored
        stored.revoked_at = timezone.now()
        stored.save(update_fields=["revoked_at"])
        audit.record(
            user=by,
            action=AuditEntry.Action.TOKEN,
            obj=stored,
            reason="revoked",
            request=request,
            detail={"service_account": stored.user.get_username()},
        )
    token.refresh_from_db(fields=["revoked_at"])
    return stored


# What an administrator may change on an issued token. The service account and the
# revocation are not among them (see ApiToken), nor is the key.
TOKEN_EDITABLE = ("name", "scopes", "expires_at")


def _token_value(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def change_api_token(*, token, changes, by, request=None):
    """Apply {field: new value} to a token and audit what changed (old and new values)."""
    refused = sorted(set(changes) - set(TOKEN_EDITABLE))
    if refused:
        raise PermissionDenied(
            f"接口令牌的这些字段不能修改 / these fields of an API token cannot change: "
            f"{', '.join(refused)}"
        )
    if "scopes" in changes:
        changes = {**changes, "scopes": _valid_scopes(changes["scopes"])}
    with transaction.atomic():
        stored = ApiToken.objects.select_for_update().get(pk=token.pk)
        changed = {
            name: [_token_value(getattr(stored, name)), _token_value(value)]
            for name, value in changes.items()
            if getattr(stored, name) != value
        }
        if not changed:
            return token
        for name in changed:
            setattr(token, name, changes[name])
        token.save(update_fields=list(changed))
        audit.record(
            user=by,
            action=AuditEntry.Action.TOKEN,
            obj=token,
            reason="changed",
            request=request,
            detail={"changed": changed, "service_account": token.user.get_username()},
        )
    return token


def delete_api_token(*, token, by, request=None):
    """Delete a token, keeping in the audit log what it was."""
    with transaction.atomic():
        audit.record(
            user=by,
            action=AuditEntry.Action.TOKEN,
            obj=token,
            reason="deleted",
            request=request,
            detail={
                "name": token.name,
                "prefix": token.prefix,
                "service_account": token.user.get_username(),
                "scopes": token.scopes,
                "revoked_at": _token_value(token.revoked_at),
            },
        )
        token.delete()


def token_for_key(raw):
    """Return the valid ApiToken for a clear key, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = sql.token_with_user(hash_token(raw))
    if token is None or not token.is_valid or not token.user.is_active:
        return None
    # Written at most once a minute, so that busy integrations don't write on every call.
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - datetime.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
