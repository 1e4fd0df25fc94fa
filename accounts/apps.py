from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and access")

    def ready(self):
        from django.contrib import admin

        from accounts import schema, signals  # noqa: F401 (OpenAPI extension, log-in throttle)
        from accounts.scoping import scope_admin_site

        # The admin app (first in INSTALLED_APPS) has registered every ModelAdmin by now.
        scope_admin_site(admin.site)
