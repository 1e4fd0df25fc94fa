from django.contrib.gis import admin
from django.db.models.constants import LOOKUP_SEP

from accounts import bulk_reads
from gridmap.widgets import OfflineMapWidget


class MapAdmin(admin.GISModelAdmin):
    """Model admin whose geometry fields use the offline map widget."""

    gis_widget = OfflineMapWidget


class PersonalDataAdmin:
    """Mixin for the model admin of personal data: masked only, and every look audited.

    The system administrator may not reveal personal data (accounts.models.REVEAL_ROLES),
    so the admin must be no way around the masking: the model fields named in
    `personal_fields` (clear names and addresses; ciphers and digests) never reach a page,
    as a form field, a column, a search, a filter or a lookup in the URL (``?name=张三``
    would tell whether such a person lives there, ``?name__startswith=`` a name letter by
    letter). Show the masked forms as read-only fields instead.

    Every change list and change form (history and delete pages too) is a bulk read of
    `bulk_read_label` data: audited with its filter and row count, and counted against
    the user's rate limit (accounts/bulk_reads.py).
    """

    personal_fields = ()
    bulk_read_label = ""

    def bulk_read(self, request):
        match = request.resolver_match
        return "" if match.url_name.endswith("_add") else self.bulk_read_label

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *self.personal_fields]

    def lookup_allowed(self, lookup, value, request):
        if lookup.split(LOOKUP_SEP, 1)[0] in self.personal_fields:
            return False
        return super().lookup_allowed(lookup, value, request)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            bulk_reads.returned(request, len(changelist.result_list))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        bulk_reads.returned(request, 1)
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        bulk_reads.returned(request, 1)
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        bulk_reads.returned(request, 1)
        return response
