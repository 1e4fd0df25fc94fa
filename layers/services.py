"""Writes to areas, grids and the point layers."""

from layers import selectors


def assign_areas(record):
    """Set the grid, community and street of a point record from its location.

    A point outside every grid keeps grid=None and shows in the unassigned list; its
    community and street are still set when it falls inside them.
    """
    if record.location is None:
        record.grid = record.community = record.street = None
        return
    grid = selectors.grid_containing(record.location)
    if grid is not None:
        record.grid = grid
        record.community = grid.community
        record.street = grid.community.street
        return
    record.grid = None
    record.community = selectors.community_containing(record.location)
    record.street = (
        record.community.street
        if record.community is not None
        else selectors.street_containing(record.location)
    )


# --- imports -------------------------------------------------------------------------------

# Tests set this to run import jobs in the request instead of a background thread.
RUN_JOBS_INLINE = False


class UploadRejected(ValueError):
    pass


def import_job_create(*, kind, upload, crs, partial, dry_run, by):
    """Save an uploaded file and create its ImportJob; refuse files over the size limit."""
    import uuid
    from pathlib import Path

    from django.conf import settings

    from layers.models import ImportJob

    limit = settings.MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise UploadRejected(
            f"文件过大：{upload.size / 1e6:.1f} MB，上限 {limit / 1e6:.0f} MB / "
            f"file too large: {upload.size / 1e6:.1f} MB, the limit is {limit / 1e6:.0f} MB"
        )
    suffix = Path(upload.name).suffix.lower()[:10]
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return ImportJob.objects.create(
        kind=kind,
        filename=Path(upload.name).name[:255],
        path=str(path),
        crs=crs or "",
        partial=partial,
        dry_run=dry_run,
        created_by=by,
    )


def import_job_start(*, job):
    """Run the job in a background thread (or inline in tests)."""
    import threading

    from django.db import transaction

    if RUN_JOBS_INLINE:
        import_job_run(job_id=job.pk)
        return
    transaction.on_commit(
        lambda: threading.Thread(
            target=import_job_run, kwargs={"job_id": job.pk}, daemon=True
        ).start()
    )


def import_job_run(*, job_id):
    """Run an import job, writing its progress through a second connection."""
    import os

    from django.db import connection, connections
    from django.utils import timezone

    from layers.importers import run_import
    from layers.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.RUNNING)
    # The import runs in one transaction; progress must be visible before it commits.
    side = connections["default"].copy() if not RUN_JOBS_INLINE else None

    def progress(done, total):
        if side is None:
            return
        with side.cursor() as cursor:
            cursor.execute(
                "UPDATE layers_importjob SET processed_rows = %s, total_rows = %s WHERE id = %s",
                [done, total, job_id],
            )

    try:
        report = run_import(
            job.kind,
            job.path,
            crs=job.crs or ("" if job.kind in ("areas", "grids") else "wgs84"),
            partial=job.partial,
            dry_run=job.dry_run,
            progress=progress,
        )
        ImportJob.objects.filter(pk=job_id).update(
            status=(
                ImportJob.Status.DONE
                if report.committed or (job.dry_run and not report.failed)
                else ImportJob.Status.FAILED
            ),
            processed_rows=report.counts.get("rows", 0),
            total_rows=report.counts.get("rows", 0),
            counts=report.counts,
            error_count=report.error_count,
            errors=report.errors,
            notes=report.notes[:1000],
            message=report.message,
            finished_at=timezone.now(),
        )
    except Exception as exc:  # noqa: BLE001 (a job must always end with a state)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED,
            message=f"导入出错 / import failed: {exc}",
            finished_at=timezone.now(),
        )
    finally:
        if side is not None:
            side.close()
        if job.path and os.path.exists(job.path):
            os.unlink(job.path)
        if not RUN_JOBS_INLINE:
            connection.close()


# --- fixing unassigned points ----------------------------------------------------------------


def point_relocate(*, record, lon, lat, crs="wgs84"):
    """Move a point record to corrected coordinates; its grid follows (InGrid.save)."""
    import numpy as np
    from django.contrib.gis.geos import Point

    from layers import crs as crs_module

    x, y = crs_module.to_storage(lon, lat, crs)
    code = str(crs_module.check_coordinates(x, y))
    if code != crs_module.OK:
        raise ValueError(crs_module.PROBLEM_MESSAGES[code])
    record.location = Point(float(np.asarray(x)), float(np.asarray(y)), srid=4326)
    record.save()
    return record
