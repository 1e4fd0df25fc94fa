"""Fixtures for the case tests: a case anywhere in the workflow, files kept in tmp."""

import pytest
from django.utils import timezone

from cases.models import Assignment, Case, Category, HandlerRole, Status


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def wangge_grid(db):
    from accounts.models import User

    worker = User.objects.get(username="wangge").grid_worker
    return worker.grids.order_by("code").first()


@pytest.fixture
def inside(wangge_grid):
    """A point inside the demo grid worker's first grid."""
    return wangge_grid.geom.point_on_surface


@pytest.fixture
def clerk(db):
    from accounts.models import User

    return User.objects.get(username="shouli")


@pytest.fixture
def make_case(db, clerk, inside):
    """Return a function that registers a case and puts it into a given state."""
    from cases import services

    def _make(status=Status.REGISTERED, category="wage", location=None, **kwargs):
        kwargs.setdefault("source", "dispute")
        kwargs.setdefault("description", "测试案件")
        case, _ = services.case_register(
            category=Category.objects.get(code=category),
            location=location or inside,
            by=clerk,
            **kwargs,
        )
        if status != Status.REGISTERED:
            fields = {"status": status}
            if status in (Status.DISPATCHED, Status.IN_PROGRESS):
                worker = services.least_loaded_worker(case.grid_id)
                Assignment.objects.create(
                    case=case,
                    role=HandlerRole.LEAD,
                    level=case.level,
                    worker=worker,
                    at=timezone.now(),
                )
            if status in (Status.RESOLVED, Status.VERIFIED, Status.CALLED_BACK, Status.CLOSED):
                fields.update(resolved_at=timezone.now(), resolved_level=case.level)
            if status == Status.CLOSED:
                fields["closed_at"] = timezone.now()
            Case.objects.filter(pk=case.pk).update(**fields)
            case.refresh_from_db()
        return case

    return _make
