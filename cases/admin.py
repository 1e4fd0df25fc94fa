from django.contrib import admin

from cases import models
from gridmap.admin import MapAdmin, PersonalDataAdmin


class TimeLimitInline(admin.TabularInline):
    model = models.TimeLimit
    extra = 0


@admin.register(models.Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "limit_working_days", "active", "order"]
    list_editable = ["limit_working_days", "active", "order"]
    search_fields = ["code", "name"]
    inlines = [TimeLimitInline]


class CaseEventInline(admin.TabularInline):
    model = models.CaseEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "from_status", "to_status", "actor", "note", "at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CallbackInline(admin.TabularInline):
    model = models.Callback
    extra = 0


class AssignmentInline(admin.TabularInline):
    model = models.Assignment
    extra = 0
    raw_id_fields = ["worker", "unit"]
    readonly_fields = ["by", "at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        # Dispatch goes through the workflow (cases.services.case_dispatch).
        return False


class PartyInline(admin.TabularInline):
    model = models.Party
    extra = 0
    fields = ["role", "name_masked", "phone_masked", "id_number_masked"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AttachmentInline(admin.TabularInline):
    model = models.Attachment
    extra = 0
    fields = ["name", "content_type", "size", "by", "at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Case)
class CaseAdmin(PersonalDataAdmin, MapAdmin):
    list_display = ["number", "source", "category", "status", "level", "grid", "reported_at"]
    list_filter = ["status", "source", "category", "level", "street"]
    search_fields = ["number", "title"]
    readonly_fields = [
        "grid",
        "community",
        "street",
        "version",
        "stage_started_at",
        "stage_deadline",
        "created_at",
        "updated_at",
    ]
    raw_id_fields = ["merged_into", "rental_house", "created_by"]
    inlines = [PartyInline, AssignmentInline, AttachmentInline, CaseEventInline, CallbackInline]
    # Its parties are shown masked (PartyInline); a case page is a bulk read all the same.
    bulk_read_label = "cases"


@admin.register(models.WorkCalendarDay)
class WorkCalendarDayAdmin(admin.ModelAdmin):
    list_display = ["day", "kind", "festival", "provisional"]
    list_filter = ["kind", "provisional"]
    date_hierarchy = "day"
    search_fields = ["festival"]


@admin.register(models.HandlerUnit)
class HandlerUnitAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "department", "street", "community", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "department"]


@admin.register(models.RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = [
        "level",
        "category",
        "street",
        "community",
        "handler_kind",
        "unit",
        "role",
        "active",
    ]
    list_filter = ["level", "handler_kind", "role", "active"]
    list_editable = ["active"]


@admin.register(models.LegalExpert)
class LegalExpertAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "organisation", "active"]
    list_filter = ["kind", "active"]


@admin.register(models.Consultation)
class ConsultationAdmin(admin.ModelAdmin):
    list_display = ["case", "convened_at", "opinion_at"]
    raw_id_fields = ["case", "convened_by"]
    filter_horizontal = ["experts"]


@admin.register(models.Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["case", "kind", "deadline", "created_at", "unit_name", "number"]
    list_filter = ["kind"]
    raw_id_fields = ["case"]
    search_fields = ["case__number", "number"]


@admin.register(models.Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "case", "message", "created_at", "read_at"]
    raw_id_fields = ["user", "case", "reminder"]
