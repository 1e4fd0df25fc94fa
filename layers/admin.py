from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from gridmap.admin import MapAdmin, PersonalDataAdmin
from gridmap.pii import mask_name
from layers import models


@admin.register(models.District)
class DistrictAdmin(MapAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(models.Street)
class StreetAdmin(MapAdmin):
    list_display = ["code", "name", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]


@admin.register(models.Community)
class CommunityAdmin(MapAdmin):
    list_display = ["code", "name", "kind", "street"]
    list_filter = ["kind", "street"]
    search_fields = ["code", "name"]


@admin.register(models.Grid)
class GridAdmin(MapAdmin):
    list_display = ["code", "name", "community", "version", "valid_from", "valid_to"]
    list_filter = ["community__street", "community"]
    search_fields = ["code", "name"]


@admin.register(models.GridWorker)
class GridWorkerAdmin(MapAdmin):
    list_display = ["name", "phone", "user"]
    search_fields = ["name"]
    filter_horizontal = ["grids"]
    autocomplete_fields = ["user"]


class UnassignedFilter(admin.SimpleListFilter):
    """Points outside every current grid (the unassigned list), to fix their location."""

    title = "网格 grid"
    parameter_name = "in_grid"

    def lookups(self, request, model_admin):
        return [("no", "未划入网格 unassigned"), ("yes", "已划入 assigned")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(grid__isnull=True)
        if self.value() == "yes":
            return queryset.filter(grid__isnull=False)
        return queryset


class PointAdmin(MapAdmin):
    list_filter = [UnassignedFilter, "street", "community"]
    readonly_fields = ["grid", "community", "street", "created_at", "updated_at"]
    list_select_related = ["grid", "community"]


@admin.register(models.Compound)
class CompoundAdmin(PointAdmin):
    list_display = ["name", "households", "high_rise", "community", "grid"]
    search_fields = ["name"]


@admin.register(models.Organisation)
class OrganisationAdmin(PointAdmin):
    list_display = ["name", "kind", "community", "grid"]
    search_fields = ["name", "credit_code"]


@admin.register(models.RentalHouse)
class RentalHouseAdmin(PersonalDataAdmin, PointAdmin):
    list_display = ["code", "address", "landlord", "rooms", "tenant_count", "overcrowded", "grid"]
    search_fields = ["code", "address"]
    personal_fields = ["landlord_name", "landlord_phone_cipher", "landlord_phone_digest"]
    bulk_read_label = "rentals"
    readonly_fields = PointAdmin.readonly_fields + ["landlord", "landlord_phone_masked"]
    raw_id_fields = ["compound"]

    @admin.display(description=_("landlord"))
    def landlord(self, obj):
        return mask_name(obj.landlord_name)


@admin.register(models.Person)
class PersonAdmin(PersonalDataAdmin, PointAdmin):
    list_display = ["masked_name", "id_number_masked", "kind", "community", "grid"]
    list_filter = ["kind"] + PointAdmin.list_filter
    # The REST API shows no more of a person than this either: no clear name, home address
    # or household number; ID number and phone only masked.
    personal_fields = [
        "name",
        "address",
        "household_no",
        "id_number_cipher",
        "id_number_digest",
        "phone_cipher",
        "phone_digest",
    ]
    bulk_read_label = "persons"
    readonly_fields = PointAdmin.readonly_fields + [
        "masked_name",
        "id_number_masked",
        "phone_masked",
    ]
    raw_id_fields = ["rental_house", "compound"]

    @admin.display(description=_("name"))
    def masked_name(self, obj):
        return mask_name(obj.name)

    def has_add_permission(self, request):
        # A person's ID number is required, validated and stored encrypted: persons come
        # from imports and the grid workers' checks, never typed here.
        return False


@admin.register(models.ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "filename", "status", "error_count", "created_by", "created_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in models.ImportJob._meta.fields]
