from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import ApiToken, AuditEntry, User
from accounts.scoping import can_read_audit


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "last_name", "first_name", "role", "street", "community"]
    list_filter = ["role", "street", "community", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (
        (_("Role and area"), {"fields": ("role", "district", "street", "community", "department")}),
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only for everyone (the database refuses changes as well)."""

    list_display = ["at", "username", "role", "action", "model", "object_pk", "field", "ip"]
    list_filter = ["action", "role"]
    search_fields = ["username", "reason", "object_pk", "ip"]
    date_hierarchy = "at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_view_permission(self, request, obj=None):
        return can_read_audit(request.user)

    def has_module_permission(self, request):
        return can_read_audit(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}


class ApiTokenForm(forms.ModelForm):
    """What an administrator may change on an issued token: name, scopes, expiry."""

    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=ApiToken.SCOPES, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = list(services.TOKEN_EDITABLE)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py issue_api_token` (the key is shown once).

    The service account and the revocation are read-only (a revoked token stays revoked;
    revoke with the action); every change, revocation and deletion is audited with what
    changed.
    """

    form = ApiTokenForm
    list_display = ["name", "prefix", "user", "scopes", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # The form has written its values onto obj; the service compares them with the
        # stored row, saves and audits in one transaction.
        services.change_api_token(
            token=obj,
            changes={name: form.cleaned_data[name] for name in services.TOKEN_EDITABLE},
            by=request.user,
            request=request,
        )

    def delete_model(self, request, obj):
        services.delete_api_token(token=obj, by=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            services.delete_api_token(token=token, by=request.user, request=request)

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_token(token=token, by=request.user, request=request)
