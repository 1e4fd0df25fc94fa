"""Pages of the layers: imports with progress, the unassigned list, exports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Role
from accounts.scoping import is_system_admin, role_required
from layers import exporters, selectors, services
from layers.forms import ImportForm, RelocateForm
from layers.models import ImportJob


def _admin_only(request):
    if not is_system_admin(request.user):
        raise PermissionDenied("仅系统管理员可导入数据 / only administrators may import data")


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    """Upload a file to import; the job runs in the background and the page shows progress."""
    _admin_only(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = services.import_job_create(
                kind=data["kind"],
                upload=data["file"],
                crs=data["crs"],
                partial=data["partial"],
                dry_run=data["dry_run"],
                by=request.user,
            )
        except services.UploadRejected as exc:
            form.add_error("file", str(exc))
        else:
            services.import_job_start(job=job)
            return redirect("layers:import_job", pk=job.pk)
    return render(
        request,
        "layers/import_upload.html",
        {"form": form, "jobs": selectors.import_jobs(request.user, limit=20)},
    )


@login_required
@require_GET
def import_job(request, pk):
    _admin_only(request)
    job = get_object_or_404(ImportJob, pk=pk)
    return render(request, "layers/import_job.html", {"job": job})


@login_required
@require_GET
def import_job_status(request, pk):
    """Return the progress of an import job (polled by its page)."""
    _admin_only(request)
    job = get_object_or_404(ImportJob, pk=pk)
    return JsonResponse(
        {
            "status": job.status,
            "status_label": job.get_status_display(),
            "processed": job.processed_rows,
            "total": job.total_rows,
            "percent": job.percent,
            "counts": job.counts,
            "error_count": job.error_count,
            "message": job.message,
            "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
        }
    )


@login_required
@require_GET
def import_job_errors(request, pk):
    """Download the row-level error report of an import as CSV."""
    _admin_only(request)
    job = get_object_or_404(ImportJob, pk=pk)
    from layers.importers.report import ImportReport

    report = ImportReport()
    report.errors = job.errors
    response = HttpResponse(report.errors_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


UNASSIGNED_ROLES = (Role.DISTRICT,)


@role_required(*UNASSIGNED_ROLES)
@require_GET
def unassigned(request):
    """List the points outside every grid, per layer, for the command centre to fix."""
    layer = request.GET.get("layer", "rentals")
    if layer not in selectors.point_models():
        raise Http404("未知的图层 / unknown layer")
    qs = selectors.unassigned(request.user, layer).select_related("community", "street")
    return render(
        request,
        "layers/unassigned.html",
        {
            "layer": layer,
            "counts": selectors.unassigned_counts(request.user),
            "rows": qs.order_by("pk")[:200],
            "total": qs.count(),
            "form": RelocateForm(initial={"crs": "wgs84"}),
        },
    )


@role_required(*UNASSIGNED_ROLES)
@require_http_methods(["POST"])
def relocate(request, layer, pk):
    """Correct the coordinates of an unassigned point; its grid follows."""
    if layer not in selectors.point_models():
        raise Http404("未知的图层 / unknown layer")
    record = _unassigned_or_404(request.user, layer, pk)
    form = RelocateForm(request.POST)
    if form.is_valid():
        try:
            services.point_relocate(record=record, **form.cleaned_data)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            if record.grid_id:
                text = _("Location corrected: now in grid %(grid)s") % {"grid": record.grid}
            else:
                text = _("Location corrected: still outside every grid")
            messages.success(request, text)
    else:
        messages.error(request, _("Invalid coordinates"))
    return redirect(f"{reverse('layers:unassigned')}?layer={layer}")


def _unassigned_or_404(user, layer, pk):
    record = selectors.unassigned(user, layer).filter(pk=pk).first()
    if record is None:
        raise Http404("不在您的辖区内或已划入网格 / not found, or already in a grid")
    return record


@login_required
@require_GET
def export(request):
    """Download a layer of the user's area as CSV, GeoJSON, GeoPackage or XLSX."""
    layer = request.GET.get("layer", "")
    fmt = request.GET.get("format", "csv")
    if not layer:
        return render(
            request,
            "layers/export.html",
            {"layers": exporters.LAYERS, "formats": list(exporters.FORMATS)},
        )
    try:
        handle, filename, content_type, rows = exporters.export(request.user, layer, fmt)
    except exporters.ExportError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    from accounts import audit

    audit.record(
        user=request.user,
        action="export",
        request=request,
        detail={"layer": layer, "format": fmt, "rows": rows, "masked": True},
    )
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
