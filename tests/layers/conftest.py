"""Helpers for the layer import tests: valid ID numbers, files, points inside grids."""

import csv
import io

import pytest

from gridmap.pii import id_number_check_char


def id_number(n, region="110101", birth="19900307"):
    """Return a valid GB 11643 ID number, distinct for each n < 1000."""
    first17 = f"{region}{birth}{n % 1000:03d}"
    return first17 + id_number_check_char(first17)


def write_csv(path, header, rows, encoding="utf-8"):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def chuanfang_grids(db):
    from layers.models import Grid

    return list(Grid.objects.current().filter(community__name="船房社区").order_by("code"))


@pytest.fixture
def inside(chuanfang_grids):
    """Return a function giving an interior point (lon, lat) of the n-th Chuanfang grid."""

    def _inside(n=0):
        p = chuanfang_grids[n].geom.point_on_surface
        return round(p.x, 7), round(p.y, 7)

    return _inside
