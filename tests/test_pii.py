import datetime
import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from gridmap import pii

ENCRYPTION_KEY = bytes(range(32))
OTHER_ENCRYPTION_KEY = bytes(range(100, 132))
HMAC_KEY = bytes(range(32, 64))
OTHER_HMAC_KEY = bytes(range(200, 232))


@pytest.fixture(autouse=True)
def pii_keys():
    # Until the project's pytest-django settings are in place, these tests
    # run on a minimal configuration of their own.
    if not settings.configured:
        settings.configure(USE_TZ=True, TIME_ZONE="Asia/Shanghai")
    with override_settings(PII_ENCRYPTION_KEY=ENCRYPTION_KEY, PII_HMAC_KEY=HMAC_KEY):
        yield


def check_char(first17):
    """Return the ISO 7064 MOD 11-2 check character, derived independently."""
    # The weight of position i (1-based from the right, the check character
    # at i=1) is 2**(i-1) mod 11; the check value makes the sum 1 mod 11.
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(region="530112", birth="19900101", sequence="123"):
    first17 = region + birth + sequence
    return first17 + check_char(first17)


# Published examples of GB 11643-1999 (its appendix A): a woman born
# 1949-12-31 in Beijing's Chaoyang district, and a man born 1880-01-01 in
# Guangdong's Nan'ao county.
PUBLISHED_IDS = ["11010519491231002X", "440524188001010014"]


def test_check_char_helper_agrees_with_the_published_examples():
    for number in PUBLISHED_IDS:
        assert check_char(number[:17]) == number[17]


@pytest.mark.parametrize(
    "number",
    [
        PUBLISHED_IDS[0],
        make_id(),
        make_id("530112", "20000229", "001"),
        make_id("530112", "19000101", "002"),
        make_id("532301", "19871231", "999"),
        make_id("530112", "20101010", "550"),
    ],
)
def test_validate_id_number_accepts_valid_numbers(number):
    assert pii.validate_id_number(number) == number


def test_published_1880_example_fails_only_the_birth_year_rule():
    # Its check character is right, but nobody born before 1900 is expected
    # among the residents, so such a number is far more likely a typo.
    number = PUBLISHED_IDS[1]
    assert pii.id_number_check_char(number[:17]) == number[17]
    with pytest.raises(pii.PIIError) as excinfo:
        pii.validate_id_number(number)
    assert excinfo.value.code == "id_birth_date"


def test_validate_id_number_accepts_an_x_check_character():
    # Find a 17-digit body whose check character is X, and one for each digit.
    numbers = {}
    for sequence in range(1000):
        number = make_id(sequence=f"{sequence:03d}")
        numbers.setdefault(number[-1], number)
    assert set(numbers) == set("0123456789X")
    for number in numbers.values():
        assert pii.validate_id_number(number) == number


def test_module_check_char_matches_the_independent_one():
    for sequence in range(0, 1000, 7):
        first17 = f"53011219900101{sequence:03d}"
        assert pii.id_number_check_char(first17) == check_char(first17)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("11010519491231002x", "11010519491231002X"),
        ("  11010519491231002X\n", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
        ("110105 19491231 002x", "11010519491231002X"),
    ],
)
def test_validate_id_number_normalises(raw, expected):
    assert pii.validate_id_number(raw) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "110105491231002",  # an old 15-digit number
        "1101051949123100AX",
        "X1010519491231002X",
        "11010519491231002Y",
        "11010519491231002-",
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_validate_id_number_rejects_the_wrong_format(value):
    with pytest.raises(pii.PIIError) as excinfo:
        pii.validate_id_number(value)
    assert excinfo.value.code == "id_format"
    assert str(excinfo.value) == (
        "身份证号应为18位：17位数字加1位数字或X / "
        "ID number must be 18 characters: 17 digits followed by a digit or X"
    )


def _future(days):
    return (datetime.date.today() + datetime.timedelta(days=days)).strftime("%Y%m%d")


@pytest.mark.parametrize(
    "birth",
    [
        "19901301",  # month 13
        "19900230",  # 30 February
        "19000229",  # 1900 was not a leap year
        "19900100",  # day 0
        "18991231",  # before 1900
        "00000000",
        _future(2),  # tomorrow in any time zone
        _future(400),
    ],
)
def test_validate_id_number_rejects_a_bad_birth_date(birth):
    number = make_id(birth=birth)
    with pytest.raises(pii.PIIError) as excinfo:
        pii.validate_id_number(number)
    assert excinfo.value.code == "id_birth_date"
    assert str(excinfo.value) == (
        "身份证号中的出生日期无效 / the birth date in the ID number is not valid"
    )


def test_validate_id_number_rejects_a_wrong_check_digit():
    valid = make_id()
    for wrong in "0123456789X":
        if wrong == valid[-1]:
            continue
        with pytest.raises(pii.PIIError) as excinfo:
            pii.validate_id_number(valid[:17] + wrong)
        assert excinfo.value.code == "id_check_digit"
        assert str(excinfo.value) == "身份证号校验位错误 / ID number check digit is wrong"


def test_validate_id_number_catches_a_swapped_digit_pair():
    valid = make_id()
    swapped = valid[:14] + valid[15] + valid[14] + valid[16:]
    assert swapped != valid
    with pytest.raises(pii.PIIError) as excinfo:
        pii.validate_id_number(swapped)
    assert excinfo.value.code == "id_check_digit"


def test_pii_error_is_a_value_error():
    assert issubclass(pii.PIIError, ValueError)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("0871-12345678", "0871-12345678"),
        ("0871 12345678", "0871-12345678"),
        ("087112345678", "0871-12345678"),
        ("(0871) 6412 3456", "0871-64123456"),
        ("（０８７１）６４１２３４５６", "0871-64123456"),
        ("0871-6412345", "0871-6412345"),
        ("+86 871 6412 3456", "0871-64123456"),
        ("010-62345678", "010-62345678"),
        ("+86 10 6234 5678", "010-62345678"),
        ("020-81234567", "020-81234567"),
    ],
)
def test_validate_phone_accepts_mobile_and_landline_numbers(raw, expected):
    assert pii.validate_phone(raw) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "abc",
        "12812345678",  # no mobile range starts with 12
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "12345",
        "110",
        "0871-123456",  # 6-digit local number
        "0871-0123456",  # local numbers do not start with 0
        "0871-123456789",
        "871-12345678",  # no trunk 0 without a country code
        "+1 415 555 0100",
        "+86 138 1234 567",
    ],
)
def test_validate_phone_rejects_other_input(value):
    with pytest.raises(pii.PIIError) as excinfo:
        pii.validate_phone(value)
    assert excinfo.value.code == "phone_format"
    message = str(excinfo.value)
    assert "电话号码格式不正确" in message and "phone number is not valid" in message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("530112199001011234", "530112********1234"),
        ("11010519491231002x", "110105********002X"),
        (" 530112199001011234 ", "530112********1234"),
        ("110105491231002", "110105*****1002"),
        ("12345", "*****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id_number(value, expected):
    assert pii.mask_id_number(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("0871-12345678", "0871-****5678"),
        ("0871 64123456", "0871-****3456"),
        ("0871-6412345", "0871-****345"),
        ("010-62345678", "010-****5678"),
        ("12345", "***45"),
        ("1234", "****"),
        ("", ""),
        ("   ", ""),
        (None, ""),
    ],
)
def test_mask_phone(value, expected):
    assert pii.mask_phone(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("Li Lei", "L*****"),
        ("  王五 ", "王*"),
        ("买买提·艾力", "买*****"),
        ("张", "张"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(value, expected):
    assert pii.mask_name(value) == expected


@pytest.mark.parametrize(
    "value", ["11010519491231002X", "13812345678", "", "张三 云南省昆明市西山区", "😀"]
)
def test_encrypt_decrypt_round_trip(value):
    token = pii.encrypt(value)
    assert isinstance(token, bytes)
    assert pii.decrypt(token) == value


def test_token_layout_is_version_nonce_ciphertext_tag():
    value = "530112199001011234"
    token = pii.encrypt(value)
    assert token[0] == 1
    assert len(token) == 1 + 12 + len(value.encode()) + 16
    assert pii.token_key_version(token) == 1


def test_ciphertext_does_not_contain_the_plaintext():
    for value in ("530112199001011234", "13812345678", "张三"):
        token = pii.encrypt(value)
        assert value.encode() not in token
        assert value.encode()[:6] not in token[13:]


def test_two_encryptions_of_the_same_value_differ():
    tokens = {pii.encrypt("13812345678") for _ in range(50)}
    assert len(tokens) == 50
    assert len({token[1:13] for token in tokens}) == 50


def test_decrypt_accepts_what_database_drivers_return():
    token = pii.encrypt("13812345678")
    assert pii.decrypt(memoryview(token)) == "13812345678"
    assert pii.decrypt(bytearray(token)) == "13812345678"


def test_tampered_ciphertext_raises_pii_error():
    token = pii.encrypt("530112199001011234")
    # The nonce, the ciphertext and the tag are all authenticated.
    for position in (1, 12, 13, 20, len(token) - 1):
        tampered = bytearray(token)
        tampered[position] ^= 0x01
        with pytest.raises(pii.PIIError) as excinfo:
            pii.decrypt(bytes(tampered))
        assert excinfo.value.code == "token_invalid"
    with pytest.raises(pii.PIIError):
        pii.decrypt(token + b"\x00")


def test_a_changed_version_byte_raises_pii_error():
    token = pii.encrypt("530112199001011234")
    with override_settings(PII_ENCRYPTION_KEY={1: ENCRYPTION_KEY, 2: ENCRYPTION_KEY}):
        # Same key under version 2: only the authenticated version differs.
        with pytest.raises(pii.PIIError) as excinfo:
            pii.decrypt(b"\x02" + token[1:])
    assert excinfo.value.code == "token_invalid"


@pytest.mark.parametrize("token", [b"", b"\x01", b"\x01" + bytes(27)])
def test_truncated_ciphertext_raises_pii_error(token):
    with pytest.raises(pii.PIIError) as excinfo:
        pii.decrypt(token)
    assert excinfo.value.code == "token_damaged"
    assert "密文已损坏" in str(excinfo.value)


def test_decrypting_with_another_key_raises_pii_error():
    token = pii.encrypt("13812345678")
    with override_settings(PII_ENCRYPTION_KEY=OTHER_ENCRYPTION_KEY):
        with pytest.raises(pii.PIIError) as excinfo:
            pii.decrypt(token)
    assert excinfo.value.code == "token_invalid"
    message = str(excinfo.value)
    assert "无法解密" in message and "cannot decrypt" in message


def test_key_rotation_keeps_old_tokens_readable():
    old_token = pii.encrypt("13812345678")
    rotated = {1: ENCRYPTION_KEY, 2: OTHER_ENCRYPTION_KEY}
    with override_settings(PII_ENCRYPTION_KEY=rotated):
        new_token = pii.encrypt("13812345678")
        assert pii.token_key_version(new_token) == 2
        assert pii.decrypt(old_token) == pii.decrypt(new_token) == "13812345678"
    # Once version 1 is retired, its tokens say so instead of failing vaguely.
    with override_settings(PII_ENCRYPTION_KEY={2: OTHER_ENCRYPTION_KEY}):
        with pytest.raises(pii.PIIError) as excinfo:
            pii.decrypt(old_token)
    assert excinfo.value.code == "token_key_version"


def test_encrypt_and_decrypt_reject_the_wrong_types():
    with pytest.raises(TypeError):
        pii.encrypt(None)
    with pytest.raises(TypeError):
        pii.encrypt(13812345678)
    with pytest.raises(TypeError):
        pii.decrypt("not bytes")
    with pytest.raises(TypeError):
        pii.digest(b"bytes")


@pytest.mark.parametrize(
    "overrides",
    [
        {"PII_ENCRYPTION_KEY": None},
        {"PII_ENCRYPTION_KEY": b"too short"},
        {"PII_ENCRYPTION_KEY": ENCRYPTION_KEY.hex()},
        {"PII_ENCRYPTION_KEY": {}},
        {"PII_ENCRYPTION_KEY": {0: ENCRYPTION_KEY}},
        {"PII_ENCRYPTION_KEY": {256: ENCRYPTION_KEY}},
        {"PII_ENCRYPTION_KEY": {"1": ENCRYPTION_KEY}},
    ],
)
def test_a_misconfigured_encryption_key_is_reported(overrides):
    with override_settings(**overrides):
        with pytest.raises(ImproperlyConfigured):
            pii.encrypt("13812345678")


@pytest.mark.parametrize(
    "overrides",
    [
        {"PII_HMAC_KEY": None},
        {"PII_HMAC_KEY": bytes(31)},
        {"PII_HMAC_KEY": ENCRYPTION_KEY},
    ],
)
def test_a_misconfigured_hmac_key_is_reported(overrides):
    with override_settings(**overrides):
        with pytest.raises(ImproperlyConfigured):
            pii.digest("13812345678")


def test_digest_is_a_stable_keyed_hmac_sha256():
    value = "11010519491231002X"
    result = pii.digest(value)
    assert result == pii.digest(value)
    assert len(result) == 64 and int(result, 16) >= 0
    assert result == hmac.new(HMAC_KEY, value.encode(), hashlib.sha256).hexdigest()
    # Keyed: a plain hash, which anyone could compute for every ID number,
    # is not what is stored.
    assert result != hashlib.sha256(value.encode()).hexdigest()


def test_digest_depends_on_the_key_and_the_value():
    value = "13812345678"
    result = pii.digest(value)
    with override_settings(PII_HMAC_KEY=OTHER_HMAC_KEY):
        assert pii.digest(value) != result
    assert pii.digest("13812345679") != result


def test_encrypt_many_round_trips_and_keeps_gaps():
    values = ["13812345678", None, "0871-12345678", "", "13812345678"]
    tokens = pii.encrypt_many(iter(values))
    assert tokens[1] is None
    assert tokens[0] != tokens[4]
    assert [None if t is None else pii.decrypt(t) for t in tokens] == values
    assert pii.decrypt_many(tokens) == values
    assert all(t[0] == 1 for t in tokens if t is not None)
    assert len({t[1:13] for t in tokens if t is not None}) == 4


def test_encrypt_many_uses_the_current_key_version():
    with override_settings(PII_ENCRYPTION_KEY={1: ENCRYPTION_KEY, 7: OTHER_ENCRYPTION_KEY}):
        tokens = pii.encrypt_many(["a", "b"])
        assert [pii.token_key_version(t) for t in tokens] == [7, 7]
        assert pii.decrypt_many(tokens) == ["a", "b"]


def test_encrypt_many_of_nothing_is_empty():
    assert pii.encrypt_many([]) == []
    assert pii.digest_many([]) == []


def test_encrypt_many_rejects_non_strings():
    with pytest.raises(TypeError):
        pii.encrypt_many(["13812345678", 13812345678])


def test_digest_many_matches_digest():
    values = ["11010519491231002X", None, "13812345678", "11010519491231002X"]
    digests = pii.digest_many(values)
    assert digests == [pii.digest(values[0]), None, pii.digest(values[2]), digests[0]]


def test_importing_the_module_needs_no_configured_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    root = Path(__file__).resolve().parent.parent
    code = "import gridmap.pii as p; print(p.mask_name('张三'), p.validate_phone('13812345678'))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["张*", "13812345678"]
