"""Read import files safely: size limit, encodings, zip bombs, tables and features."""

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from layers.importers.report import ImportFailed

TABLE_SUFFIXES = {".csv", ".txt", ".xlsx"}
FEATURE_SUFFIXES = {".geojson", ".json", ".zip", ".gpkg"}
# A zipped shapefile expands a few times; more than this is a zip bomb, not a layer.
MAX_ZIP_RATIO = 100
MAX_ZIP_MEMBERS = 200
_SAMPLE_BYTES = 256 * 1024


def check_size(path):
    """Refuse a file larger than settings.MAX_UPLOAD_BYTES."""
    size = os.path.getsize(path)
    limit = settings.MAX_UPLOAD_BYTES
    if size > limit:
        raise ImportFailed(
            f"文件过大：{size / 1e6:.1f} MB，上限 {limit / 1e6:.0f} MB / "
            f"file too large: {size / 1e6:.1f} MB, the limit is {limit / 1e6:.0f} MB"
        )
    if size == 0:
        raise ImportFailed("文件为空 / the file is empty")
    return size


def detect_encoding(raw):
    """Return the text encoding of CSV bytes: UTF-8 (with or without BOM) or GB18030."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(raw) >= _SAMPLE_BYTES and b"\n" in raw:
        # A sample that ends inside a double-byte character looks like another encoding
        # (GBK read as Thai cp874, garbling every header): judge whole lines only.
        raw = raw[: raw.rindex(b"\n") + 1]
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A sample may cut a multi-byte character at its end: that is not an error.
        if exc.start >= len(raw) - 3 and len(raw) >= _SAMPLE_BYTES:
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    encoding = (best.encoding if best else "").lower().replace("-", "_")
    # Excel in China saves "ANSI" CSV as GBK; GB18030 decodes GB2312 and GBK too.
    if encoding in {"gb2312", "gbk", "gb18030", "hz", "cp936"} or not encoding:
        encoding = "gb18030"
    try:
        raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise ImportFailed(
            "无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV / "
            "cannot tell the file's text encoding; save it as UTF-8 or GBK CSV"
        ) from None
    return encoding


def read_table(path, chunksize=None):
    """Return the rows of a CSV or XLSX file as DataFrames of text (a list of chunks).

    Every value stays text (nothing guessed); blanks are "". A CSV in GBK/GB18030 (as saved
    by Excel in China) or UTF-8 with a BOM is read as well as plain UTF-8.
    """
    path = Path(path)
    check_size(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        except Exception as exc:  # noqa: BLE001 (any parse failure is the file's fault)
            raise ImportFailed(f"无法读取 Excel 文件 / cannot read the Excel file: {exc}") from None
        frame = frame.fillna("")
        frame.columns = [str(c) for c in frame.columns]
        return [frame] if chunksize is None else _split(frame, chunksize)
    if suffix not in (".csv", ".txt"):
        raise ImportFailed(
            f"不支持的表格格式 {suffix}（请用 CSV 或 XLSX） / "
            f"unsupported table format {suffix} (use CSV or XLSX)"
        )
    with open(path, "rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    if encoding != "utf-8-sig" and encoding != "utf-8":
        _check_whole_file_decodes(path, encoding)
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding=encoding,
            chunksize=chunksize,
            skipinitialspace=True,
        )
        if chunksize is None:
            return [reader]
        return reader
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ImportFailed(f"无法读取 CSV 文件 / cannot read the CSV file: {exc}") from None


def _check_whole_file_decodes(path, encoding):
    with open(path, encoding=encoding) as fh:
        try:
            while fh.read(1 << 20):
                pass
        except UnicodeDecodeError:
            raise ImportFailed(
                f"文件不是有效的 {encoding} 文本 / the file is not valid {encoding} text"
            ) from None


def _split(frame, chunksize):
    return [frame.iloc[i : i + chunksize] for i in range(0, max(len(frame), 1), chunksize)]


def safe_unzip_shapefile(path, workdir):
    """Extract a zipped shapefile into workdir and return the .shp path.

    Refuses archives that would expand past the size limit or by a suspicious ratio (a zip
    bomb), that hold too many members, or that contain no complete shapefile.
    """
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ImportFailed("不是有效的 zip 文件 / not a valid zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise ImportFailed(
                f"zip 中文件过多（{len(members)}） / too many files in the zip ({len(members)})"
            )
        compressed = max(os.path.getsize(path), 1)
        limit = min(settings.MAX_UPLOAD_BYTES * 5, compressed * MAX_ZIP_RATIO + (1 << 20))
        declared = sum(m.file_size for m in members)
        if declared > limit:
            raise ImportFailed(
                f"zip 解压后过大（{declared / 1e6:.0f} MB），疑似压缩炸弹 / "
                f"the zip expands to {declared / 1e6:.0f} MB: refused as a zip bomb"
            )
        by_suffix = {}
        for m in members:
            name = Path(m.filename).name
            if name.startswith(".") or "__MACOSX" in m.filename:
                continue
            by_suffix.setdefault(Path(name).suffix.lower(), []).append(m)
        shps = by_suffix.get(".shp", [])
        if len(shps) != 1:
            raise ImportFailed(
                "zip 中应恰好有一个 shapefile（.shp、.shx、.dbf） / "
                "the zip must hold exactly one shapefile (.shp, .shx, .dbf)"
            )
        stem = Path(shps[0].filename).with_suffix("")
        parts = {}
        for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            match = [
                m for m in by_suffix.get(suffix, []) if Path(m.filename).with_suffix("") == stem
            ]
            if match:
                parts[suffix] = match[0]
        missing = [s for s in (".shp", ".shx", ".dbf") if s not in parts]
        if missing:
            raise ImportFailed(
                f"shapefile 不完整，缺少 {', '.join(missing)} / "
                f"incomplete shapefile, missing {', '.join(missing)}"
            )
        written = 0
        for suffix, member in parts.items():
            # Our own file names: nothing in the archive chooses where we write.
            target = Path(workdir) / f"layer{suffix}"
            with archive.open(member) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    # Headers can lie about sizes; count what really comes out.
                    if written > limit:
                        raise ImportFailed(
                            "zip 解压后过大，疑似压缩炸弹 / the zip expands too far: "
                            "refused as a zip bomb"
                        )
                    dst.write(chunk)
        return Path(workdir) / "layer.shp"


def read_features(path):
    """Return (DataFrame of attributes, array of WKB geometries, file CRS or None).

    Geometries stay WKB here so that broken ones (a ring of fewer than 3 points) are
    reported per feature instead of failing the whole file.
    """
    from pyogrio.errors import DataSourceError
    from pyogrio.raw import read

    path = Path(path)
    check_size(path)
    suffix = path.suffix.lower()
    if suffix not in FEATURE_SUFFIXES:
        raise ImportFailed(
            f"不支持的图层格式 {suffix}（请用 GeoJSON、zip 压缩的 Shapefile 或 GeoPackage） / "
            f"unsupported layer format {suffix} (use GeoJSON, zipped Shapefile or GeoPackage)"
        )
    workdir = tempfile.mkdtemp(prefix="gridmap-import-")
    try:
        source = safe_unzip_shapefile(path, workdir) if suffix == ".zip" else path
        try:
            meta, _fids, geometry, field_data = read(source, encoding=None)
        except (DataSourceError, Exception) as exc:  # noqa: BLE001
            raise ImportFailed(f"无法读取图层文件 / cannot read the layer file: {exc}") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    columns = [str(c) for c in meta["fields"]]
    frame = pd.DataFrame(
        {c: pd.Series(v).astype(object) for c, v in zip(columns, field_data, strict=True)}
    )
    frame = frame.map(
        lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )
    if geometry is None:
        raise ImportFailed("文件中没有几何图形 / the file has no geometries")
    return frame, geometry, meta.get("crs")


def sniff(path):
    """Return 'table' or 'features' from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in FEATURE_SUFFIXES:
        return "features"
    raise ImportFailed(f"不支持的文件格式 {suffix} / unsupported file format {suffix}")


__all__ = ["check_size", "detect_encoding", "read_features", "read_table", "safe_unzip_shapefile"]
