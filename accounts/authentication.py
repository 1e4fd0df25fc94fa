"""API tokens for external systems (e.g. the 12345 hotline), each with its own scopes.

A client sends ``Authorization: Bearer gm_…``. The token acts as its service account, so
the account's role and area bound the rows it reaches (accounts.scoping); its scopes bound
which endpoints it may call. An API view opts in by naming the scope each HTTP method needs:

    class CaseList(generics.ListCreateAPIView):
        token_scopes = {"GET": "cases:read", "POST": "cases:create"}

A view without ``token_scopes`` refuses every token: a new endpoint is closed to external
systems until someone decides otherwise.
"""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts import services

KEYWORDS = (b"bearer", b"token")
# A view's token_scopes value that lets every valid token in, whatever its scopes (the API
# description, say).
ANY_SCOPE = "*"


def required_scope(view, method):
    """Return the token scope the view needs for the HTTP method, or None (closed)."""
    scopes = getattr(view, "token_scopes", None) or {}
    if method in ("HEAD", "OPTIONS"):
        method = "GET"
    return scopes.get(method)


def authenticate_key(request, raw, invalid=None):
    """Return (user, token) for a raw API token key allowed on the request's view.

    Raise `invalid` (by default "invalid or expired token") for an unknown, revoked or
    expired key, and PermissionDenied when the token's scopes do not cover the view.
    """
    token = services.token_for_key(raw)
    if token is None:
        raise invalid or exceptions.AuthenticationFailed(
            "令牌无效或已过期 / invalid or expired token"
        )
    scope = required_scope((request.parser_context or {}).get("view"), request.method)
    if scope is None or not (scope == ANY_SCOPE or token.allows(scope)):
        raise exceptions.PermissionDenied(
            f"令牌无权访问此接口 / this token's scopes do not allow this endpoint"
            f" (needs {scope or 'a scope this endpoint does not grant to tokens'})"
        )
    return token.user, token


class ApiTokenAuthentication(BaseAuthentication):
    """DRF authentication by API token, checking the token's scope against the view."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "令牌格式错误 / invalid Authorization header: expected 'Bearer <token>'"
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("令牌无效 / invalid token") from None
        return authenticate_key(request, raw)

    def authenticate_header(self, request):
        return self.keyword
