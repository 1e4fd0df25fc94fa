"""API tokens in the admin: the owner is fixed, a revocation is final, every edit audited."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.forms import MultiWidget

from accounts import services
from accounts.models import ApiToken, AuditEntry, User


@pytest.fixture
def token(db):
    from layers.models import District

    account = User.objects.create(
        username="hotline12345", role="intake", district=District.objects.get(code="530112")
    )
    token, _raw = services.issue_api_token(
        name="12345 hotline", user=account, scopes=["cases:create"]
    )
    return token


def _url(token, view="change"):
    return f"/admin/accounts/apitoken/{token.pk}/{view}/"


def _submitted(client, token, **override):
    """Return the change form's values as a browser sends them, with some changed.

    `override` may name fields the form does not show: a browser can send anything.
    """
    form = client.get(_url(token)).context["adminform"].form
    values = {name: form[name].value() for name in form.fields}
    values.update(override)
    data = {}
    for name, value in values.items():
        widget = form.fields[name].widget if name in form.fields else None
        if isinstance(widget, MultiWidget):
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else part
        elif value is None:
            # Empty, whether the field is one input or a date and a time.
            data[name] = data[f"{name}_0"] = data[f"{name}_1"] = ""
        else:
            data[name] = value
    return data


def test_the_admin_cannot_bring_a_revoked_token_back(client, login, token):
    login("admin")
    services.revoke_api_token(token=token, by=User.objects.get(username="admin"))
    response = client.post(_url(token), _submitted(client, token, revoked_at=None))
    assert response.status_code in (200, 302)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_admin_cannot_hand_a_token_to_another_account(client, login, token):
    login("admin")
    other = User.objects.get(username="zhihui")
    response = client.post(_url(token), _submitted(client, token, user=other.pk))
    assert response.status_code in (200, 302)
    token.refresh_from_db()
    assert token.user.username == "hotline12345"


def test_a_change_in_the_admin_is_audited_with_old_and_new_values(client, login, token):
    login("admin")
    data = _submitted(client, token, scopes=["cases:create", "cases:read"], name="12345 热线")
    assert client.post(_url(token), data).status_code == 302
    token.refresh_from_db()
    assert token.scopes == ["cases:create", "cases:read"] and token.name == "12345 热线"
    entry = AuditEntry.objects.get(action="token", object_pk=str(token.pk), reason="changed")
    assert entry.username == "admin"
    assert entry.detail["changed"] == {
        "name": ["12345 hotline", "12345 热线"],
        "scopes": [["cases:create"], ["cases:create", "cases:read"]],
    }


def test_an_unknown_scope_is_refused_in_the_admin(client, login, token):
    login("admin")
    # As JSON, which the admin's old free-text field took as is.
    data = _submitted(client, token, scopes='["everything"]')
    assert client.post(_url(token), data).status_code == 200  # the form with its error
    token.refresh_from_db()
    assert token.scopes == ["cases:create"]


def test_revoking_and_deleting_in_the_admin_are_audited(client, login, token):
    login("admin")
    changelist = "/admin/accounts/apitoken/"
    response = client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(object_pk=str(token.pk), reason="revoked").exists()
    assert client.post(_url(token, "delete"), {"post": "yes"}).status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    entry = AuditEntry.objects.get(object_pk=str(token.pk), reason="deleted")
    assert entry.username == "admin"
    assert entry.detail["service_account"] == "hotline12345"
    assert entry.detail["prefix"] == token.prefix


def test_issuing_a_token_on_the_command_line_is_audited(token):
    call_command("issue_api_token", "gis", "--user", "hotline12345", "--scope", "layers:read")
    issued = ApiToken.objects.get(name="gis")
    entry = AuditEntry.objects.get(action="token", object_pk=str(issued.pk), reason="issued")
    assert entry.detail["service_account"] == "hotline12345"
    assert entry.detail["via"].startswith("manage.py issue_api_token")


def test_the_orm_refuses_to_rebind_or_unrevoke_a_token(token):
    token.user = User.objects.get(username="zhihui")
    with pytest.raises(PermissionError):
        token.save()
    token = ApiToken.objects.get(pk=token.pk)
    services.revoke_api_token(token=token)
    token.revoked_at = None
    with pytest.raises(PermissionError):
        token.save()
    with pytest.raises(PermissionError):
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_apitoken SET revoked_at = NULL WHERE id = %s",
        "UPDATE accounts_apitoken SET user_id = (SELECT id FROM accounts_user "
        "WHERE username = 'zhihui') WHERE id = %s",
    ],
)
def test_the_database_refuses_to_rebind_or_unrevoke_a_token(token, sql):
    services.revoke_api_token(token=token)
    with pytest.raises(DatabaseError, match="accounts_apitoken"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [token.pk])
    token.refresh_from_db()
    assert token.revoked_at is not None and token.user.username == "hotline12345"
