import psycopg2
import pytest
from django.db import connection
from django.urls import reverse

from accounts import audit
from accounts.models import AuditEntry


def _url(kind, obj):
    return reverse("accounts:reveal", args=[kind, obj.pk])


def test_revealing_a_person_shows_the_clear_values_and_writes_one_entry_per_field(
    client, login, places
):
    login("chuanfang")
    person = places["A"].objects["layers.person"]
    response = client.post(
        _url("person", person),
        {"reason": "核实租客身份 verify tenant"},
        HTTP_USER_AGENT="pytest-agent",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert person.clear["id_number"] in body and person.clear["phone"] in body
    assert "no-store" in response["Cache-Control"]
    entries = AuditEntry.objects.filter(model="layers.person", object_pk=str(person.pk))
    assert sorted(entries.values_list("field", flat=True)) == ["id_number", "name", "phone"]
    entry = entries.get(field="id_number")
    assert entry.username == "chuanfang" and entry.role == "community"
    assert entry.action == "reveal" and entry.reason == "核实租客身份 verify tenant"
    assert entry.ip == "10.1.2.3" and entry.user_agent == "pytest-agent"


def test_reveal_api_answers_json_with_one_field(client, login, places):
    login("wangge")
    person = places["A"].objects["layers.person"]
    response = client.post(
        _url("person", person),
        {"reason": "上门核查 home visit", "fields": ["id_number"]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.json()["values"] == {"id_number": person.clear["id_number"]}
    assert AuditEntry.objects.filter(object_pk=str(person.pk), field="id_number").count() == 1


def test_reveal_of_a_landlord_phone_and_a_case_party(client, login, places):
    login("zhihui")
    house = places["A"].objects["layers.rentalhouse"]
    party = places["A"].objects["cases.party"]
    r1 = client.post(_url("rentalhouse", house), {"reason": "消防检查 fire check"})
    r2 = client.post(_url("party", party), {"reason": "回访当事人 callback"})
    assert r1.status_code == r2.status_code == 200
    assert AuditEntry.objects.filter(model="cases.party", object_pk=str(party.pk)).exists()
    assert AuditEntry.objects.filter(model="layers.rentalhouse", field="landlord_phone").exists()


def test_the_reveal_form_shows_only_masked_values(client, login, places):
    login("chuanfang")
    person = places["A"].objects["layers.person"]
    response = client.get(_url("person", person))
    assert response.status_code == 200
    body = response.content.decode()
    assert person.clear["id_number"] not in body and person.clear["phone"] not in body
    assert person.id_number_masked in body
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


def test_reveal_without_a_reason_is_refused_and_not_logged(client, login, places):
    login("chuanfang")
    person = places["A"].objects["layers.person"]
    response = client.post(_url("person", person), {"reason": "  "})
    assert response.status_code == 400
    assert person.clear["id_number"] not in response.content.decode()
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


@pytest.mark.parametrize("username,status", [("fenxi", 403), ("shouli", 403), ("renshe", 403)])
def test_roles_without_reveal_right_are_refused(client, login, places, username, status):
    login(username)
    person = places["A"].objects["layers.person"]
    assert client.post(_url("person", person), {"reason": "想看看 curious"}).status_code == status
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


def test_reveal_outside_the_area_is_not_found(client, login, places):
    login("wangge")
    person = places["B"].objects["layers.person"]
    assert client.post(_url("person", person), {"reason": "核实身份 check"}).status_code == 404
    assert client.get(reverse("accounts:reveal", args=["nosuchkind", 1])).status_code == 404


def test_the_reveal_form_needs_a_csrf_token(places, login):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    from accounts.models import User

    csrf_client.force_login(User.objects.get(username="chuanfang"))
    person = places["A"].objects["layers.person"]
    response = csrf_client.post(_url("person", person), {"reason": "核实身份 check"})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(object_pk=str(person.pk)).exists()


def test_record_keeps_who_what_why_and_from_where(rf, user):
    request = rf.get("/layers/export.csv?street=1", HTTP_USER_AGENT="ua", REMOTE_ADDR="::1")
    zhihui = user("zhihui")
    entry = audit.record(
        user=zhihui, action="export", request=request, detail={"rows": 3, "format": "csv"}
    )
    assert entry.username == "zhihui" and entry.action == "export"
    assert entry.path == "/layers/export.csv?street=1" and entry.ip == "::1"
    assert entry.detail == {"rows": 3, "format": "csv"}
    with pytest.raises(ValueError):
        audit.record(user=zhihui, action="delete-everything")


def test_client_ip_trusts_forwarded_for_only_from_configured_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8")
    settings.TRUSTED_PROXY_COUNT = 0
    assert audit.client_ip(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert audit.client_ip(request) == "5.6.7.8"


# --- append-only --------------------------------------------------------------------------


@pytest.fixture
def entry(user):
    return audit.record(user=user("zhihui"), action="export", detail={"rows": 1})


def test_the_orm_refuses_to_change_or_delete_audit_entries(entry):
    entry.reason = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_auditentry SET reason = 'x' WHERE id = %s",
        "DELETE FROM accounts_auditentry WHERE id = %s",
    ],
)
def test_the_database_refuses_to_change_or_delete_audit_entries(owner_cursor, sql):
    # As the schema owner, who may UPDATE and DELETE (the app role may not at all:
    # tests/ops/test_db_roles.py): the trigger refuses it still.
    owner_cursor.execute(
        "INSERT INTO accounts_auditentry (at, action, model, object_pk, field, reason, ip,"
        " user_agent, path, detail, username, role) VALUES (now(), 'export', '', '', '', '', NULL,"
        " '', '', '{}', '', '') RETURNING id"
    )
    pk = owner_cursor.fetchone()[0]
    owner_cursor.execute("SAVEPOINT attempt")
    with pytest.raises(psycopg2.Error, match="append-only"):
        owner_cursor.execute(sql, [pk])
    owner_cursor.execute("ROLLBACK TO SAVEPOINT attempt")
    owner_cursor.execute("SELECT reason FROM accounts_auditentry WHERE id = %s", [pk])
    assert owner_cursor.fetchone() == ("",)


def test_the_database_refuses_truncate_outside_throwaway_test_databases(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts_auditentry'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        triggers = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = %s", ["accounts_auditentry_append_only"]
        )
        source = cursor.fetchone()[0]
    assert triggers == ["accounts_auditentry_no_truncate", "accounts_auditentry_no_update_delete"]
    assert "RAISE EXCEPTION" in source and "TRUNCATE" in source


def test_the_admin_shows_the_log_read_only(client, login, entry):
    login("admin")
    base = "/admin/accounts/auditentry/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}{entry.pk}/change/").status_code == 200
    assert client.post(f"{base}{entry.pk}/change/", {"reason": "x"}).status_code == 403
    assert client.get(f"{base}{entry.pk}/delete/").status_code == 403
    assert client.get(f"{base}add/").status_code == 403
    entry.refresh_from_db()
    assert entry.reason == ""


# --- the audit log page -------------------------------------------------------------------


def test_the_district_searches_the_log(client, login, places):
    login("chuanfang")
    person = places["A"].objects["layers.person"]
    client.post(_url("person", person), {"reason": "核实 ZZREASON"})
    login("zhihui")
    url = reverse("accounts:audit_log")
    response = client.get(url, {"username": "chuanfang", "action": "reveal", "q": "ZZREASON"})
    assert response.status_code == 200
    assert [entry.reason for entry in response.context["page"]] == ["核实 ZZREASON"] * 3
    response = client.get(url, {"username": "nobody"})
    assert len(response.context["page"]) == 0


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"ip": "1' OR '1'='1"}, {"role": "x"}])
def test_bad_filters_of_the_log_answer_400(client, login, params):
    login("zhihui")
    assert client.get(reverse("accounts:audit_log"), params).status_code == 400


@pytest.mark.parametrize("username", ["majie", "chuanfang", "wangge", "fenxi", "shouli", "renshe"])
def test_only_the_district_and_the_administrator_read_the_log(client, login, username):
    login(username)
    assert client.get(reverse("accounts:audit_log")).status_code == 403
