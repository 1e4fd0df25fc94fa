import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts import scoping, services
from accounts.models import ApiToken


class CaseEndpoint(APIView):
    token_scopes = {"GET": "cases:read", "POST": "cases:create"}

    def get(self, request):
        from cases.models import Case

        return Response(
            {
                "user": request.user.username,
                "cases": scoping.scope(request.user, Case.objects.all()).count(),
            }
        )

    def post(self, request):
        return Response({"created": True}, status=201)


class ClosedEndpoint(APIView):
    def get(self, request):
        return Response({"ok": True})


@pytest.fixture
def hotline(db):
    from accounts.models import User
    from layers.models import District

    account = User.objects.create(
        username="hotline12345",
        role="intake",
        district=District.objects.get(code="530112"),
    )
    token, raw = services.issue_api_token(
        name="12345 hotline", user=account, scopes=["cases:create"]
    )
    return token, raw


def _refused(response):
    # 403 rather than 401: session authentication comes first and sends no challenge.
    return response.status_code in (401, 403) and "令牌" in str(response.data["detail"])


def _call(view, method="get", raw=None, header="Bearer"):
    factory = APIRequestFactory()
    kwargs = {"HTTP_AUTHORIZATION": f"{header} {raw}"} if raw else {}
    request = getattr(factory, method)("/api/test/", **kwargs)
    return view.as_view()(request)


def test_only_a_hash_of_the_token_is_stored(hotline):
    token, raw = hotline
    assert raw.startswith("gm_") and raw not in token.key_hash
    assert ApiToken.objects.get(pk=token.pk).key_hash == services.hash_token(raw)


def test_a_token_may_call_what_its_scopes_allow(hotline):
    _token, raw = hotline
    assert _call(CaseEndpoint, "post", raw).status_code == 201


def test_a_token_is_refused_beyond_its_scopes(hotline):
    _token, raw = hotline
    response = _call(CaseEndpoint, "get", raw)
    assert response.status_code == 403
    assert "cases:read" in str(response.data["detail"])


def test_endpoints_without_token_scopes_refuse_every_token(hotline):
    _token, raw = hotline
    assert _call(ClosedEndpoint, "get", raw).status_code == 403


def test_a_token_acts_within_its_service_accounts_area(hotline):
    token, raw = hotline
    token.scopes = ["cases:read"]
    token.save()
    response = _call(CaseEndpoint, "get", raw)
    assert response.status_code == 200
    assert response.data["user"] == "hotline12345"


@pytest.mark.parametrize("raw", ["gm_nope_nope", "not-a-token", "gm_" + "x" * 40])
def test_unknown_tokens_are_refused(db, raw):
    assert _refused(_call(CaseEndpoint, "post", raw))


def test_revoked_and_expired_tokens_are_refused(hotline):
    token, raw = hotline
    token.expires_at = timezone.now() - datetime.timedelta(seconds=1)
    token.save()
    assert _refused(_call(CaseEndpoint, "post", raw))
    token.expires_at = None
    token.save()
    services.revoke_api_token(token=token)
    assert _refused(_call(CaseEndpoint, "post", raw))


def test_a_token_of_a_deactivated_account_is_refused(hotline):
    token, raw = hotline
    token.user.is_active = False
    token.user.save()
    assert _refused(_call(CaseEndpoint, "post", raw))


def test_unknown_scopes_are_refused(hotline):
    token, _raw = hotline
    with pytest.raises(ValidationError):
        services.issue_api_token(name="x", user=token.user, scopes=["everything"])
    with pytest.raises(ValidationError):
        services.issue_api_token(name="x", user=token.user, scopes=[])


def test_the_command_prints_the_key_once(hotline, capsys):
    token, _raw = hotline
    call_command("issue_api_token", "test", "--user", token.user.username, "--scope", "cases:read")
    out = capsys.readouterr().out
    raw = out.strip().rsplit(" ", 1)[-1]
    assert services.token_for_key(raw).name == "test"


def test_the_api_accepts_tokens_by_default(settings):
    classes = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert "accounts.authentication.ApiTokenAuthentication" in classes
