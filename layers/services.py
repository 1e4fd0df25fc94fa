"""Writes to areas, grids and the point layers."""

from layers import sql
from layers.models import Community, Grid, Street


def assign_areas(record):
    """Set the grid, community and street of a point record from its location.

    A point outside every grid keeps grid=None and shows in the unassigned list; its
    community and street are still set when it falls inside them. One query, the locate
    API's (layers.sql.locate: the smallest grid code on a shared boundary); the areas come
    as instances with their codes and names loaded, and the rest (boundaries) deferred.
    """
    if record.location is None:
        record.grid = record.community = record.street = None
        return
    point = record.location
    if point.srid not in (None, 4326):
        point = point.transform(4326, clone=True)
    found = sql.locate(point.x, point.y)
    street_values, community_values = found["street"], found["community"]
    if found["grid"] is None and community_values is not None:
        # Outside every grid: the community's own street (as the importer assigns it), not
        # whichever street polygon holds the point; the two differ where boundaries were
        # drawn with slivers, and the street decides who sees the record.
        own = community_values["street_id"]
        if street_values is None or street_values["id"] != own:
            street_values = None if own is None else {"id": own}
    street = _loaded(Street, street_values)
    community = _loaded(Community, community_values, street_id=street and street.pk)
    grid = _loaded(Grid, found["grid"], community_id=community and community.pk)
    if community is not None:
        community.street = street
    if grid is not None:
        grid.community = community
    record.grid, record.community, record.street = grid, community, street


def _loaded(model, values, **more):
    """Return a model instance from a locate dict (the fields it has; others deferred)."""
    if values is None:
        return None
    values = {**values, **more}
    # from_db wants the values in the order of the model's fields.
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(None, names, [values[n] for n in names])


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
