"""Locate the GDAL and GEOS libraries that GeoDjango loads.

Debian 12 ships GDAL 3.6, for which Django 5.2 warns gis.W001: GDAL < 3.9 cannot stop a
crafted spatial reference from reading files or the network. pyogrio's wheel bundles a
recent GDAL (3.12, built with PROJ and GEOS inside) and shapely's wheel bundles GEOS, so
GeoDjango uses those: one GDAL for files and for the ORM, and no dependency on the
distribution's GIS libraries.
"""

import glob
import importlib.util
import os


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _first(pattern):
    found = sorted(glob.glob(pattern))
    return found[0] if found else None


def bundled_gdal():
    """Return (library path, GDAL_DATA, PROJ_DATA) of pyogrio's bundled GDAL, or Nones."""
    pkg = _package_dir("pyogrio")
    if pkg is None:
        return None, None, None
    lib = _first(os.path.join(os.path.dirname(pkg), "pyogrio.libs", "libgdal*.so*"))
    return lib, os.path.join(pkg, "gdal_data"), os.path.join(pkg, "proj_data")


def bundled_geos():
    """Return the path of shapely's bundled libgeos_c, or None."""
    pkg = _package_dir("shapely")
    if pkg is None:
        return None
    return _first(os.path.join(os.path.dirname(pkg), "shapely.libs", "libgeos_c*.so*"))


def configure():
    """Return (GDAL_LIBRARY_PATH, GEOS_LIBRARY_PATH) and point GDAL at its data files."""
    gdal_lib, gdal_data, proj_data = bundled_gdal()
    if gdal_lib:
        # The bundled GDAL must find its own proj.db, not a distribution's older one.
        os.environ.setdefault("GDAL_DATA", gdal_data)
        os.environ.setdefault("PROJ_DATA", proj_data)
        os.environ.setdefault("PROJ_LIB", proj_data)
    return (
        os.environ.get("GDAL_LIBRARY_PATH") or gdal_lib,
        os.environ.get("GEOS_LIBRARY_PATH") or bundled_geos(),
    )
