"""OpenAPI (drf-spectacular): the authentication classes' descriptions, the schema views."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from accounts.authentication import ANY_SCOPE


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "接口令牌 / API token: `Authorization: Bearer gm_…` "
            "(scopes: layers:read, cases:read, cases:create, cases:update)",
        }


class DocsReaders(BasePermission):
    """Anyone when settings.API_DOCS_PUBLIC, else a signed-in user or any valid API token."""

    message = "请登录或提供接口令牌后查看接口文档 / log in or send an API token to read the docs"

    def has_permission(self, request, view):
        if settings.API_DOCS_PUBLIC:
            return True
        return bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    """The OpenAPI document at /api/schema/."""

    permission_classes = [DocsReaders]
    # Every external system may read how to call the API, whatever its scopes.
    token_scopes = {"GET": ANY_SCOPE}


class DocsView(SpectacularSwaggerView):
    """Swagger UI at /api/docs/; a visitor who may not read it is sent to the log-in page."""

    permission_classes = [DocsReaders]
    token_scopes = {"GET": ANY_SCOPE}

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.PermissionDenied) and not (
            self.request.user and self.request.user.is_authenticated
        ):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
