"""Reads of the accounts app."""

import datetime

from django.utils import timezone

from accounts.models import AuditEntry


def audit_entries(*, filters):
    """Return the audit entries matching the cleaned filters of AuditFilterForm."""
    entries = AuditEntry.objects.select_related("user")
    if filters.get("username"):
        entries = entries.filter(username__iexact=filters["username"])
    for name in ("action", "role", "ip"):
        if filters.get(name):
            entries = entries.filter(**{name: filters[name]})
    if filters.get("model"):
        entries = entries.filter(model__icontains=filters["model"])
    if filters.get("object_pk"):
        entries = entries.filter(object_pk=filters["object_pk"])
    tz = timezone.get_current_timezone()
    if filters.get("since"):
        start = datetime.datetime.combine(filters["since"], datetime.time.min, tzinfo=tz)
        entries = entries.filter(at__gte=start)
    if filters.get("until"):
        end = datetime.datetime.combine(
            filters["until"] + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
        )
        entries = entries.filter(at__lt=end)
    if filters.get("q"):
        entries = entries.filter(reason__icontains=filters["q"])
    return entries
