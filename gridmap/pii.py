"""
Personal data under PIPL (个人信息保护法): validation, masking, encryption.

Resident ID numbers (GB 11643-1999) and phone numbers are validated and
normalised on input, shown masked by default, and stored twice:

* encrypt() gives an AES-256-GCM token, so that a database dump alone does
  not reveal them. A token is one key-version byte, a random 12-byte nonce
  and the ciphertext with its 16-byte tag; the version byte is also
  authenticated (as associated data), so it cannot be altered either.
* digest() gives a keyed HMAC-SHA256 "blind index" for exact lookups (find
  the person with this ID number) without decrypting every row. Digest the
  normalised value returned by validate_id_number() / validate_phone() so
  that "530112...x" and "530112...X" find the same person.

Keys come from Django settings, read when they are used, never at import:

* PII_ENCRYPTION_KEY: 32 bytes (key version 1), or a mapping of key versions
  (1-255) to 32-byte keys. The highest version encrypts; every listed version
  decrypts, so keys are rotated by adding a version and re-encrypting.
* PII_HMAC_KEY: 32 bytes, different from the encryption key. Changing it
  means recomputing every digest.

Random 96-bit nonces are safe for up to about 2**32 encryptions per key.
"""

import datetime
import functools
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER_SIZE = 1 + NONCE_SIZE

# GB 11643-1999 check character: ISO 7064 MOD 11-2 over the first 17 digits.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
# Area codes are 010 and 02x (three digits) or 0 plus three digits, so the
# second digit tells where the area code ends; local numbers have 7 or 8
# digits and do not start with 0.
_LANDLINE_RE = re.compile(r"(0(?:10|2[0-9]|[3-9][0-9]{2}))([1-9][0-9]{6,7})")
# Separators people type in phone numbers, after NFKC normalisation (which
# already folds full-width forms): whitespace, hyphens and dashes, brackets.
_PHONE_SEPARATORS_RE = re.compile(r"[\s\-\u2010-\u2015()]")


class PIIError(ValueError):
    """Invalid personal data, or a token that cannot be decrypted."""

    def __init__(self, message, code):
        super().__init__(message)
        self.message = message
        self.code = code


def _normalize(value):
    """Return value as NFKC text without any whitespace."""
    if value is None:
        return ""
    # NFKC folds full-width digits and letters typed with a Chinese input
    # method ("５３０１…Ｘ") into ASCII.
    return "".join(unicodedata.normalize("NFKC", str(value)).split())


def id_number_check_char(first17):
    """Return the GB 11643 check character for the first 17 digits."""
    if not (len(first17) == 17 and first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 digits, not {first17!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _today():
    """Return today's date in the project's time zone when Django has one."""
    if settings.configured and settings.USE_TZ:
        from django.utils import timezone

        return timezone.localdate()
    return datetime.date.today()


def validate_id_number(value):
    """Return the normalised 18-character resident ID number, or raise PIIError."""
    number = _normalize(value).upper()
    if not _ID_RE.fullmatch(number):
        raise PIIError(
            "身份证号应为18位：17位数字加1位数字或X / "
            "ID number must be 18 characters: 17 digits followed by a digit or X",
            code="id_format",
        )
    try:
        birth_date = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth_date = None
    if birth_date is None or birth_date.year < 1900 or birth_date > _today():
        raise PIIError(
            "身份证号中的出生日期无效 / the birth date in the ID number is not valid",
            code="id_birth_date",
        )
    if id_number_check_char(number[:17]) != number[17]:
        raise PIIError(
            "身份证号校验位错误 / ID number check digit is wrong",
            code="id_check_digit",
        )
    return number


def validate_phone(value):
    """
    Return the normalised phone number, or raise PIIError.

    Mobile numbers come back as 11 digits ("13812345678"), landlines as area
    code and number ("0871-12345678"). Spaces, dashes, brackets and a +86 or
    0086 country code are accepted on input.
    """
    number = _PHONE_SEPARATORS_RE.sub("", _normalize(value))
    international = False
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix) :]
            international = True
            break
    else:
        if len(number) == 13 and number.startswith("86") and number[2] == "1":
            number = number[2:]
            international = True
    if _MOBILE_RE.fullmatch(number):
        return number
    # Landlines lose the trunk 0 of their area code after +86.
    if international and not number.startswith("0"):
        number = "0" + number
    match = _LANDLINE_RE.fullmatch(number)
    if match:
        return f"{match[1]}-{match[2]}"
    raise PIIError(
        "电话号码格式不正确：应为11位手机号或带区号的固定电话（如 0871-12345678） / "
        "phone number is not valid: expected an 11-digit mobile number or a "
        "landline number with its area code (e.g. 0871-12345678)",
        code="phone_format",
    )


def mask_id_number(value):
    """Return the ID number with all but the first 6 and last 4 characters hidden."""
    number = _normalize(value).upper()
    if len(number) <= 10:
        # Too short to show anything without showing most of it.
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(value):
    """Return the phone number with its middle digits hidden."""
    if value is None or not str(value).strip():
        return ""
    try:
        number = validate_phone(value)
    except PIIError:
        # Not a phone number we understand: show only its last 2 characters.
        text = _normalize(value)
        return "*" * len(text) if len(text) <= 4 else "*" * (len(text) - 2) + text[-2:]
    if "-" not in number:
        return number[:3] + "****" + number[-4:]
    area_code, local = number.split("-")
    shown = 4 if len(local) == 8 else 3
    return f"{area_code}-{'*' * (len(local) - shown)}{local[-shown:]}"


def mask_name(value):
    """Return the name with all but its first character hidden."""
    name = "" if value is None else str(value).strip()
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def _key_bytes(key, setting):
    """Return key as bytes after checking that it is a 32-byte key."""
    if isinstance(key, (bytearray, memoryview)):
        key = bytes(key)
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ImproperlyConfigured(
            f"{setting} must be {KEY_SIZE} random bytes "
            f"(for example base64-decoded from the environment)."
        )
    return key


def _encryption_keys():
    """Return (current version, {version: key}) from settings."""
    configured = getattr(settings, "PII_ENCRYPTION_KEY", None)
    if configured is None:
        raise ImproperlyConfigured("PII_ENCRYPTION_KEY is not set.")
    if not isinstance(configured, Mapping):
        configured = {1: configured}
    keys = {}
    for version, key in configured.items():
        if not (isinstance(version, int) and 1 <= version <= 255):
            raise ImproperlyConfigured(
                f"PII_ENCRYPTION_KEY versions must be integers 1-255, not {version!r}."
            )
        keys[version] = _key_bytes(key, f"PII_ENCRYPTION_KEY[{version}]")
    if not keys:
        raise ImproperlyConfigured("PII_ENCRYPTION_KEY has no keys.")
    return max(keys), keys


def _hmac_key():
    """Return the blind-index key from settings."""
    key = getattr(settings, "PII_HMAC_KEY", None)
    if key is None:
        raise ImproperlyConfigured("PII_HMAC_KEY is not set.")
    key = _key_bytes(key, "PII_HMAC_KEY")
    # One key for both jobs would tie the index to the ciphertext's secrecy.
    if key in _encryption_keys()[1].values():
        raise ImproperlyConfigured("PII_HMAC_KEY must differ from every PII_ENCRYPTION_KEY.")
    return key


@functools.lru_cache(maxsize=16)
def _aesgcm(key):
    """Return the AES-GCM cipher for key (keys are few and reused)."""
    return AESGCM(key)


def _current_cipher():
    """Return (version prefix byte, AESGCM) for encrypting."""
    version, keys = _encryption_keys()
    return bytes([version]), _aesgcm(keys[version])


def _require_str(value):
    if not isinstance(value, str):
        raise TypeError(f"expected a str, not {type(value).__name__}")


def encrypt(value):
    """Return value encrypted with the current key as a versioned token."""
    _require_str(value)
    prefix, cipher = _current_cipher()
    nonce = os.urandom(NONCE_SIZE)
    return prefix + nonce + cipher.encrypt(nonce, value.encode(), prefix)


def encrypt_many(values):
    """
    Return a token per value, like encrypt(), for a whole import at once.

    None stays None so that a column with gaps can be encrypted in one call.
    """
    prefix, cipher = _current_cipher()
    values = list(values)
    # One system call for all nonces instead of one per value.
    nonces = os.urandom(NONCE_SIZE * len(values))
    seal = cipher.encrypt
    tokens = []
    append = tokens.append
    for i, value in enumerate(values):
        if value is None:
            append(None)
            continue
        _require_str(value)
        nonce = nonces[i * NONCE_SIZE : (i + 1) * NONCE_SIZE]
        append(prefix + nonce + seal(nonce, value.encode(), prefix))
    return tokens


def token_key_version(token):
    """Return the key version a token was encrypted with."""
    token = bytes(token)
    if len(token) < _HEADER_SIZE + TAG_SIZE:
        raise PIIError("密文已损坏 / ciphertext is damaged", code="token_damaged")
    return token[0]


def _decrypt_with(keys, token):
    """Return the plaintext of token using the {version: key} mapping."""
    # Database drivers hand bytea back as memoryview.
    token = bytes(token)
    version = token_key_version(token)
    if version not in keys:
        raise PIIError(
            f"密文的密钥版本 {version} 未配置 / "
            f"no key is configured for key version {version} of the ciphertext",
            code="token_key_version",
        )
    try:
        plaintext = _aesgcm(keys[version]).decrypt(
            token[1:_HEADER_SIZE], token[_HEADER_SIZE:], token[:1]
        )
    except InvalidTag:
        raise PIIError(
            "无法解密：密文被篡改或密钥不符 / "
            "cannot decrypt: the ciphertext was altered or the key does not match",
            code="token_invalid",
        ) from None
    return plaintext.decode()


def decrypt(token):
    """Return the text encrypted in token, or raise PIIError."""
    if not isinstance(token, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, not {type(token).__name__}")
    return _decrypt_with(_encryption_keys()[1], token)


def decrypt_many(tokens):
    """Return the text of each token, like decrypt(); None stays None."""
    keys = _encryption_keys()[1]
    return [None if token is None else _decrypt_with(keys, token) for token in tokens]


def digest(value):
    """Return the keyed HMAC-SHA256 hex digest (blind index) of value."""
    _require_str(value)
    return hmac.digest(_hmac_key(), value.encode(), hashlib.sha256).hex()


def digest_many(values):
    """Return the digest of each value, like digest(); None stays None."""
    key = _hmac_key()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    digests = []
    append = digests.append
    for value in values:
        if value is None:
            append(None)
            continue
        _require_str(value)
        # Copying the keyed state skips re-deriving the padded key each time.
        one = mac.copy()
        one.update(value.encode())
        append(one.hexdigest())
    return digests
