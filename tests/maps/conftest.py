import math

import pytest


def tile_of(lon, lat, z):
    """Return the x, y of the web-mercator tile at zoom z that contains lon/lat."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@pytest.fixture
def worker_grid(db):
    """Return one grid of the demo grid worker 'wangge'."""
    from accounts.models import User
    from accounts.scoping import territory_grid_ids
    from layers.models import Grid

    user = User.objects.get(username="wangge")
    return Grid.objects.get(pk=territory_grid_ids(user)[0])


@pytest.fixture
def other_grid(db, worker_grid):
    """Return a grid outside wangge's territory."""
    from accounts.models import User
    from accounts.scoping import territory_grid_ids
    from layers.models import Grid

    ids = territory_grid_ids(User.objects.get(username="wangge"))
    return (
        Grid.objects.current().exclude(pk__in=ids).exclude(community=worker_grid.community).first()
    )


@pytest.fixture
def new_case(db):
    """Return a function that registers a case at a grid's point on surface."""
    from cases import services
    from cases.models import Category, Source

    def _make(grid, description="测试案件 test case", by=None, title=""):
        point = grid.geom.point_on_surface
        case, _ = services.case_register(
            source=Source.PATROL,
            category=Category.objects.filter(active=True).first(),
            description=description,
            title=title,
            location=point,
            by=by,
        )
        return case

    return _make
