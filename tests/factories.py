"""Small factories for tests: build only what a test needs, on top of the demo district."""

import itertools

from django.contrib.gis.geos import MultiPolygon, Point, Polygon

from layers.models import Community, Grid, Street

_seq = itertools.count(1)


def square(x0, y0, size=0.001):
    """Return a MultiPolygon square with its south-west corner at (x0, y0)."""
    return MultiPolygon(
        Polygon(((x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size), (x0, y0))),
        srid=4326,
    )


def make_street(**kwargs):
    from layers.models import District

    n = next(_seq)
    defaults = {
        "district": District.objects.get(code="530112"),
        "code": f"530112{900 + n % 100:03d}",
        "name": f"测试街道{n}",
        "geom": square(103.0, 24.0, 0.1),
    }
    defaults.update(kwargs)
    return Street.objects.create(**defaults)


def make_community(street=None, **kwargs):
    n = next(_seq)
    street = street or make_street()
    defaults = {
        "street": street,
        "code": f"{street.code}{n % 1000:03d}",
        "name": f"测试社区{n}",
        "geom": square(103.0, 24.0, 0.05),
    }
    defaults.update(kwargs)
    return Community.objects.create(**defaults)


def make_grid(community=None, **kwargs):
    n = next(_seq)
    community = community or make_community()
    defaults = {
        "community": community,
        "code": f"10{community.code}{n:06d}",
        "name": f"测试网格{n}",
        "geom": square(103.0, 24.0),
    }
    defaults.update(kwargs)
    return Grid.objects.create(**defaults)


def point(lon, lat):
    return Point(lon, lat, srid=4326)
