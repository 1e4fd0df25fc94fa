"""Import boundary layers: streets and communities ("areas"), and grids with history.

Geometries are checked one feature at a time: a ring of fewer than 3 points is rejected,
a self-intersecting polygon is repaired with make_valid (noted in the report) or rejected
when nothing polygonal is left, and every vertex must lie in the district (swapped axes,
(0,0) and far-away points are reported). A redrawn grid keeps its code: the old row gets
valid_to, the new one version + 1, and only the points in the changed area are
re-assigned. Overlaps between grids and gaps inside communities are reported in m².
"""

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.utils import timezone

from layers import crs as crs_module
from layers import sql
from layers.importers import columns as cols
from layers.importers.files import read_features
from layers.importers.report import ImportFailed
from layers.models import Community, District, Grid, Street


def feature_label(n):
    return f"要素 feature {n}"


def _crs_of_file(file_crs):
    """Return (our CRS name, or None when pyproj must transform) for a file's CRS."""
    if not file_crs:
        return "wgs84"
    text = str(file_crs).upper().replace(" ", "")
    if text in ("EPSG:4326", "OGC:CRS84", "CRS84", "EPSG:4490"):
        return "wgs84"
    if text in ("EPSG:3857", "EPSG:900913"):
        return "webmercator"
    return None


def to_storage_geoms(geoms, crs, file_crs):
    """Return the geometries converted to EPSG:4326."""
    name = crs or _crs_of_file(file_crs)
    if name is None:
        from pyproj import Transformer
        from pyproj.exceptions import CRSError

        try:
            transformer = Transformer.from_crs(file_crs, "EPSG:4326", always_xy=True)
        except CRSError:
            raise ImportFailed(
                f"无法识别文件的坐标系 {file_crs} / unknown coordinate system of the file"
            ) from None
        return shapely.transform(
            geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
    if name in (crs_module.WGS84, crs_module.CGCS2000):
        return geoms
    return shapely.transform(
        geoms, lambda xy: np.column_stack(crs_module.to_storage(xy[:, 0], xy[:, 1], name))
    )


def _too_few_points(geom):
    """Return True when a polygon has a ring of fewer than 3 distinct points."""
    parts = shapely.get_parts(geom)
    for part in parts:
        rings = [part.exterior, *part.interiors]
        for ring in rings:
            coords = shapely.get_coordinates(ring)
            if len(np.unique(coords, axis=0)) < 3:
                return True
    return False


def clean_geometries(wkb, report, crs, file_crs):
    """Return a list of MultiPolygons (None where rejected), reporting every problem."""
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    out = [None] * len(geoms)
    column = cols.label("geometry")
    candidates = []
    for i, geom in enumerate(geoms):
        n = i + 1
        if geom is None or geom.is_empty:
            report.error(n, column, "几何为空或无法读取 / geometry is empty or unreadable")
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            report.error(n, column, f"应为多边形，而不是 {geom.geom_type} / not a polygon")
            continue
        if _too_few_points(geom):
            report.error(n, column, "多边形少于3个点 / polygon has fewer than 3 points")
            continue
        candidates.append(i)
    if not candidates:
        return out
    converted = to_storage_geoms(np.array([geoms[i] for i in candidates]), crs, file_crs)
    for i, geom in zip(candidates, converted, strict=True):
        n = i + 1
        xy = shapely.get_coordinates(geom)
        codes = np.asarray(crs_module.check_coordinates(xy[:, 0], xy[:, 1]))
        bad = codes[codes != crs_module.OK]
        if len(bad):
            # The most telling problem: swapped beats outside.
            order = [crs_module.EMPTY, crs_module.ZERO, crs_module.SWAPPED]
            code = next((c for c in order if c in bad), bad[0])
            report.error(n, column, crs_module.PROBLEM_MESSAGES[code])
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            fixed = shapely.make_valid(geom)
            polys = [p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon"]
            if fixed.geom_type == "GeometryCollection":
                polys = [
                    p
                    for g in shapely.get_parts(fixed)
                    for p in shapely.get_parts(g)
                    if p.geom_type == "Polygon"
                ]
            if not polys or sum(p.area for p in polys) == 0:
                report.error(
                    n, column, f"几何无效且无法修复 / invalid geometry cannot be repaired: {reason}"
                )
                continue
            report.note(
                f"{feature_label(n)}：多边形自相交，已用 make_valid 修复 / "
                f"self-intersecting polygon repaired with make_valid ({reason})"
            )
            geom = shapely.MultiPolygon(polys)
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        out[i] = geom
    return out


def _geos(geom):
    return GEOSGeometry(memoryview(shapely.to_wkb(geom, include_srid=False)), srid=4326)


def run(kind, path, *, crs, report, progress=None, retire_missing=False, **_options):
    frame, wkb, file_crs = read_features(path)
    found = cols.resolve(kind, list(frame.columns))
    report.counts["rows"] = len(frame)
    geoms = clean_geometries(wkb, report, crs, file_crs)
    codes = [str(v).strip() for v in frame[found["code"]]]
    names = [str(v).strip() for v in frame[found["name"]]]
    seen = {}
    for i, code in enumerate(codes):
        if code in seen:
            report.error(
                i + 1,
                cols.label("code"),
                f"与要素 {seen[code]} 重复 / duplicate of feature {seen[code]}",
            )
            geoms[i] = None
        else:
            seen[code] = i + 1
        if not names[i]:
            report.error(i + 1, "名称 name", "必填项为空 / required value is empty")
            geoms[i] = None
    if kind == "areas":
        kinds = [str(v).strip() for v in frame[found["kind"]]] if "kind" in found else None
        _write_areas(codes, names, kinds, geoms, report)
    else:
        community_codes = (
            [str(v).strip() for v in frame[found["community_code"]]]
            if "community_code" in found
            else [c[2:14] for c in codes]
        )
        _write_grids(codes, names, community_codes, geoms, report, retire_missing)
    if progress:
        progress(len(frame), len(frame))


def _write_areas(codes, names, kinds, geoms, report):
    order = sorted(range(len(codes)), key=lambda i: len(codes[i]))
    for i in order:
        geom, code, name = geoms[i], codes[i], names[i]
        if geom is None:
            continue
        n = i + 1
        defaults = {"name": name[:50], "geom": _geos(geom)}
        if len(code) == 6 and code.isdigit():
            model = District
        elif len(code) == 9 and code.isdigit():
            model = Street
            parent = District.objects.filter(code=code[:6]).first()
            if parent is None:
                report.error(
                    n, cols.label("code"), f"找不到所属区 {code[:6]} / no district {code[:6]}"
                )
                continue
            defaults["district"] = parent
        elif len(code) == 12 and code.isdigit():
            model = Community
            parent = Street.objects.filter(code=code[:9]).first()
            if parent is None:
                report.error(
                    n, cols.label("code"), f"找不到所属街道 {code[:9]} / no street {code[:9]}"
                )
                continue
            defaults["street"] = parent
            kind = (kinds[i] if kinds else "") or "urban"
            if kind not in Community.Kind.values:
                report.error(n, "类型 kind", f"未知的社区类型 / unknown community kind: {kind!r}")
                continue
            defaults["kind"] = kind
        else:
            report.error(
                n,
                cols.label("code"),
                "编码应为6位（区）、9位（街道）或12位（社区）数字 / "
                "code must be 6 (district), 9 (street) or 12 (community) digits",
            )
            continue
        obj = model.objects.filter(code=code).first()
        if obj is None:
            model.objects.create(code=code, **defaults)
            report.counts["inserted"] += 1
        elif (
            obj.name == defaults["name"]
            and _same_shape(obj.geom, defaults["geom"])
            and (model is not Community or obj.kind == defaults["kind"])
        ):
            report.counts["unchanged"] += 1
        else:
            for key, value in defaults.items():
                setattr(obj, key, value)
            obj.save()
            report.counts["updated"] += 1


def _write_grids(codes, names, community_codes, geoms, report, retire_missing):
    communities = {c.code: c for c in Community.objects.filter(code__in=set(community_codes))}
    current = {g.code: g for g in Grid.objects.current().filter(code__in=set(codes))}
    now = timezone.now()
    retired_ids, changed_geoms, new_rows, touched = [], [], [], set()
    for i, code in enumerate(codes):
        geom = geoms[i]
        if geom is None:
            continue
        n = i + 1
        if not (len(code) == 20 and code.isdigit()):
            report.error(
                n, cols.label("code"), "网格编码应为20位数字 / grid code must be 20 digits"
            )
            continue
        community = communities.get(community_codes[i])
        if community is None:
            report.error(
                n,
                cols.label("community_code"),
                f"找不到社区 {community_codes[i]} / no community {community_codes[i]}",
            )
            continue
        touched.add(community.id)
        old = current.get(code)
        new_geom = _geos(geom)
        if old is None:
            new_rows.append(
                Grid(
                    community=community,
                    code=code,
                    name=names[i][:80],
                    geom=new_geom,
                    valid_from=now,
                )
            )
            changed_geoms.append(geom)
            report.counts["inserted"] += 1
        elif _same_shape(old.geom, new_geom) and old.community_id == community.id:
            if old.name != names[i][:80]:
                Grid.objects.filter(pk=old.pk).update(name=names[i][:80])
                report.counts["updated"] += 1
            else:
                report.counts["unchanged"] += 1
        else:
            retired_ids.append(old.pk)
            changed_geoms.append(shapely.from_wkb(bytes(old.geom.wkb)))
            changed_geoms.append(geom)
            new_rows.append(
                Grid(
                    community=community,
                    code=code,
                    name=names[i][:80],
                    geom=new_geom,
                    version=old.version + 1,
                    valid_from=now,
                )
            )
            report.counts["updated"] += 1
    if report.error_count and not report.partial_ok:
        # Nothing will be kept; skip the expensive re-assignment and checks.
        return
    if retire_missing and touched:
        missing = Grid.objects.current().filter(community_id__in=touched).exclude(code__in=codes)
        for old in missing:
            retired_ids.append(old.pk)
            changed_geoms.append(shapely.from_wkb(bytes(old.geom.wkb)))
        report.counts["retired"] = missing.count()
    if retired_ids:
        Grid.objects.filter(pk__in=retired_ids).update(valid_to=now)
    Grid.objects.bulk_create(new_rows, batch_size=1000)
    if changed_geoms:
        area = shapely.union_all(changed_geoms)
        moved = sql.reassign_points(retired_ids, shapely.to_wkb(area))
        report.counts["points_reassigned"] = sum(moved.values())
        if any(moved.values()):
            report.note(
                "重新分配网格的点 / points re-assigned: "
                + ", ".join(f"{t} {c}" for t, c in moved.items() if c)
            )
    if retired_ids:
        report.note(
            f"{len(retired_ids)} 个网格的旧边界已保留为历史版本 / "
            f"old boundaries of {len(retired_ids)} grids kept as history"
        )
    topology_notes(report, touched)


def topology_notes(report, community_ids=None):
    """Add the overlaps and gaps of the given communities' grids to the report."""
    for o in sql.grid_overlaps(community_ids):
        report.note(
            f"网格重叠 overlap {o['grids'][0]} × {o['grids'][1]}: {o['area_m2']} m² "
            f"@ ({o['lon']}, {o['lat']})"
        )
    for g in sql.community_gaps(community_ids):
        report.note(
            f"社区 {g['name']} ({g['community']}) 有未划入网格的空隙 gap: {g['area_m2']} m² "
            f"@ ({g['lon']}, {g['lat']})"
        )


def _same_shape(old, new):
    """Return True when two boundaries are the same area (vertex order and start aside).

    Shapefiles store rings clockwise and GeoJSON counter-clockwise: the same grid read from
    either must not count as redrawn.
    """
    return old.equals_exact(new, 1e-9) or (old.num_coords == new.num_coords and old.equals(new))
