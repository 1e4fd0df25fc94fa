from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "last_name", "first_name", "role", "street", "community"]
    list_filter = ["role", "street", "community", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (
        (_("Role and area"), {"fields": ("role", "district", "street", "community", "department")}),
    )
