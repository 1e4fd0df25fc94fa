"""OpenAPI description of the API-token authentication (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "外部系统令牌（如12345热线），按权限范围授权 / API token of an external "
                "system (e.g. the 12345 hotline), limited to its scopes: "
                "Authorization: Bearer gm_…"
            ),
        }
