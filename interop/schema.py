"""OpenAPI (drf-spectacular) descriptions of the project's authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
