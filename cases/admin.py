from django.contrib import admin

from cases import models
from gridmap.admin import MapAdmin


@admin.register(models.Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "limit_working_days", "active", "order"]
    list_editable = ["limit_working_days", "active", "order"]
    search_fields = ["code", "name"]


class CaseEventInline(admin.TabularInline):
    model = models.CaseEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "from_status", "to_status", "actor", "note", "at"]

    def has_add_permission(self, request, obj=None):
        return False


class CallbackInline(admin.TabularInline):
    model = models.Callback
    extra = 0


@admin.register(models.Case)
class CaseAdmin(MapAdmin):
    list_display = ["number", "source", "category", "status", "level", "grid", "reported_at"]
    list_filter = ["status", "source", "category", "level", "street"]
    search_fields = ["number", "title"]
    readonly_fields = ["grid", "community", "street", "version", "created_at", "updated_at"]
    raw_id_fields = ["merged_into"]
    inlines = [CaseEventInline, CallbackInline]
