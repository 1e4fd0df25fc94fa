from django.http import HttpResponse

from accounts import audit
from accounts.models import AuditEntry
from gridmap.middleware import AuditExportMiddleware


def _download(request):
    response = HttpResponse(b"a,b\n1,2\n", content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="persons.csv"'
    return response


def test_every_download_to_a_signed_in_user_is_audited(rf, user):
    request = rf.get("/layers/export.csv", {"community": "3"}, REMOTE_ADDR="10.2.3.4")
    request.user = user("chuanfang")
    AuditExportMiddleware(_download)(request)
    entry = AuditEntry.objects.get(username="chuanfang", action="export")
    assert entry.detail["query"] == {"community": "3"}
    assert "persons.csv" in entry.detail["filename"] and entry.ip == "10.2.3.4"


def test_a_view_that_records_its_own_export_is_not_recorded_twice(rf, user):
    def view(request):
        audit.record(user=request.user, action="export", request=request, detail={"rows": 2})
        return _download(request)

    request = rf.get("/layers/export.csv")
    request.user = user("zhihui")
    AuditExportMiddleware(view)(request)
    assert AuditEntry.objects.filter(username="zhihui", action="export").count() == 1


def test_pages_and_failed_downloads_are_not_exports(rf, user):
    def failed(request):
        response = _download(request)
        response.status_code = 400
        return response

    for view in (lambda request: HttpResponse("page"), failed):
        request = rf.get("/")
        request.user = user("zhihui")
        AuditExportMiddleware(view)(request)
    assert not AuditEntry.objects.filter(username="zhihui").exists()
