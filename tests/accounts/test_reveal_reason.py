"""The reason for a reveal is normalised and must hold visible text (issue 14, finding 8).

Four zero-width spaces used to reveal a name, an ID number and a phone: every invisible
character passed for a reason. The reason is now NFKC-normalised, stripped of format and
control characters (and the other default-ignorable code points), its whitespace
collapsed, and it must hold at least four letters or digits; the audit log keeps the
normalised text.
"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.models import AuditEntry

INVISIBLE = {
    "zero-width spaces": "\u200b" * 4,
    "zero-width spaces between spaces": "\u200b \u200b \u200b \u200b",
    "word joiners": "\u2060" * 4,
    "byte order marks": "\ufeff" * 4,
    "soft hyphens": "\u00ad" * 4,
    "bidirectional controls": "\u202e\u202d\u202a\u202c",
    "Hangul fillers": "\u3164" * 4,
    "half-width Hangul fillers": "\uffa0" * 4,
    "variation selectors": "\ufe0f" * 4,
    "tag characters": "\U000e0041\U000e0042\U000e0043\U000e0044",
    "control characters": "\x01\x02\x03\x04",
    "braille blanks": "\u2800" * 4,
    "punctuation only": "。。。。",
    "three characters hidden among invisible ones": "核\u200b查\u200b了\u200b\u200b",
}


def _url(person):
    return reverse("accounts:reveal", args=["person", person.pk])


@pytest.mark.parametrize("reason", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_reason_without_visible_text_reveals_nothing(client, login, places, reason):
    login("chuanfang")
    person = places["A"].objects["layers.person"]
    response = client.post(_url(person), {"reason": reason})
    assert response.status_code == 400
    body = response.content.decode()
    assert person.clear["id_number"] not in body and person.clear["name"] not in body
    assert "至少4个汉字、字母或数字" in body
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


def test_the_json_answer_refuses_an_invisible_reason_too(client, login, places):
    login("wangge")
    person = places["A"].objects["layers.person"]
    response = client.post(_url(person), {"reason": "\u200b" * 4}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert person.clear["id_number"] not in response.content.decode()
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


def test_the_service_refuses_an_invisible_reason(places, user):
    person = places["A"].objects["layers.person"]
    with pytest.raises(ValidationError):
        services.reveal(
            user=user("chuanfang"), kind="person", pk=person.pk, fields=None, reason="\u200b" * 4
        )
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


def test_the_audit_log_keeps_the_normalised_reason(client, login, places):
    login("chuanfang")
    person = places["A"].objects["layers.person"]
    reason = "\u200b 核实\u200d身份\u00a0\u00a0ＡＢＣ\r\n\t上门\u202e走访 \ufeff"
    response = client.post(_url(person), {"reason": reason, "fields": ["phone"]})
    assert response.status_code == 200
    assert person.clear["phone"] in response.content.decode()
    entry = AuditEntry.objects.get(object_pk=str(person.pk), field="phone")
    assert entry.reason == "核实身份 ABC 上门走访"


@pytest.mark.parametrize("reason", ["核实身份", "home visit", "回访 No.3"])
def test_a_short_real_reason_is_enough_and_kept_without_invisible_padding(reason):
    assert services.clean_reason(f"\u200b {reason}\u2060\u00a0") == reason
