import zipfile
from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _

from layers.crs import CRS_CHOICES
from layers.importers.files import (
    _SAMPLE_BYTES,
    FEATURE_SUFFIXES,
    TABLE_SUFFIXES,
    detect_encoding,
)
from layers.importers.report import ImportFailed
from layers.models import ImportJob

CRS_LABELS = {
    "wgs84": "WGS84 (GPS)",
    "cgcs2000": "CGCS2000 (EPSG:4490)",
    "webmercator": "Web Mercator (EPSG:3857)",
    "gcj02": _("GCJ-02 (AMap/Tencent/WeChat)"),
    "bd09": _("BD-09 (Baidu)"),
}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=ImportJob.Kind.choices)
    file = forms.FileField(label=_("file"))
    crs = forms.ChoiceField(
        label=_("coordinate system"),
        choices=[("", _("as in the file (WGS84)"))] + [(c, CRS_LABELS[c]) for c in CRS_CHOICES],
        required=False,
    )
    partial = forms.BooleanField(label=_("keep the good rows"), required=False)
    dry_run = forms.BooleanField(label=_("check only"), required=False)

    def clean(self):
        data = super().clean()
        kind, upload = data.get("kind"), data.get("file")
        if kind and upload:
            try:
                check_import_file(kind, upload)
            except forms.ValidationError as exc:
                self.add_error("file", exc)
        return data


# What each kind of import reads (layers.importers.run_import): tables or map layers.
FEATURE_KINDS = {ImportJob.Kind.AREAS, ImportJob.Kind.GRIDS}
# C0 control bytes that text tables do not contain (tab, LF, VT, FF, CR and ^Z excepted).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 26))
# Signatures of files that are certainly not text, whatever their name says. (Short ones
# such as an executable's "MZ" could begin a CSV header, 民族 say: control bytes find those.)
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "zip",
    b"\xd0\xcf\x11\xe0": "xls",
    b"\x7fELF": "binary",
    b"%PDF-": "binary",
    b"\x89PNG": "binary",
    b"\xff\xd8\xff": "binary",
    b"GIF87a": "binary",
    b"GIF89a": "binary",
    b"SQLite format 3\x00": "binary",
}


def check_import_file(kind, upload):
    """Refuse an upload whose name or first bytes do not fit the kind of import.

    Cheap checks only (the name, the first bytes that the importer samples too, a zip's
    directory), so that a file that cannot be imported is refused on the form instead of
    failing in the background job, with nothing written.
    """
    suffix = Path(upload.name).suffix.lower()
    if kind in FEATURE_KINDS:
        allowed, expected = FEATURE_SUFFIXES, _("GeoJSON, a zipped shapefile or GeoPackage")
    else:
        allowed, expected = TABLE_SUFFIXES, _("CSV or XLSX")
    if suffix not in allowed:
        raise forms.ValidationError(
            _("A %(kind)s import takes %(expected)s files, not “%(suffix)s”."),
            code="wrong_format",
            params={
                "kind": ImportJob.Kind(kind).label,
                "expected": expected,
                "suffix": suffix or upload.name[:40],
            },
        )
    upload.seek(0)
    head = upload.read(_SAMPLE_BYTES)
    upload.seek(0)
    if suffix in (".csv", ".txt"):
        _check_text_table(head)
    elif suffix == ".xlsx":
        names = _zip_names(upload, head, _("an Excel workbook (.xlsx)"))
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
            raise _not_a(_("an Excel workbook (.xlsx)"))
    elif suffix == ".zip":
        names = [n.lower() for n in _zip_names(upload, head, _("a zipped shapefile"))]
        for part in (".shp", ".shx", ".dbf"):
            if not any(n.endswith(part) and "__macosx" not in n for n in names):
                raise _not_a(_("a zipped shapefile"))
    elif suffix == ".gpkg":
        if not head.startswith(b"SQLite format 3\x00"):
            raise _not_a(_("a GeoPackage"))
    else:  # .geojson, .json
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text.startswith(b"{") or b"\x00" in head:
            raise _not_a(_("a GeoJSON file"))


def _not_a(what):
    return forms.ValidationError(
        _("The file is not %(what)s: its content does not match its name."),
        code="wrong_content",
        params={"what": what},
    )


def _check_text_table(head):
    """Refuse binary content named .csv: CSV is text in UTF-8 or GBK (or UTF-16)."""
    kind = next((k for sig, k in _BINARY_SIGNATURES.items() if head.startswith(sig)), None)
    if kind == "xls":
        raise forms.ValidationError(
            _(
                "The file is an old Excel workbook (.xls), not CSV: save it as XLSX or as CSV "
                "(UTF-8 or GBK)."
            ),
            code="xls",
        )
    if kind == "zip":
        raise forms.ValidationError(
            _("The file is a zip archive (perhaps an XLSX workbook), not CSV: name it .xlsx."),
            code="zip_as_csv",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 with its byte order mark: NUL bytes are expected; the import reads it
    # Text in UTF-8 or GBK has no control bytes but tab and line breaks; binary files have
    # many (random bytes: one in eight).
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if kind or controls > len(head) // 100:
        raise forms.ValidationError(
            _("The file is binary, not a CSV table: save the table as CSV (UTF-8 or GBK) or XLSX."),
            code="binary",
        )
    try:
        detect_encoding(head)
    except ImportFailed:
        raise forms.ValidationError(
            _("The text encoding of the file cannot be read: save it as CSV in UTF-8 or GBK."),
            code="encoding",
        ) from None


def _zip_names(upload, head, what):
    """Return the member names of a zip upload (its directory only), or refuse it."""
    if not head.startswith(b"PK\x03\x04"):
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise forms.ValidationError(
                _("The file is an old Excel workbook (.xls): save it as XLSX or CSV."),
                code="xls",
            )
        raise _not_a(what)
    try:
        with zipfile.ZipFile(upload) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        raise _not_a(what) from None
    finally:
        upload.seek(0)


class RelocateForm(forms.Form):
    lon = forms.FloatField(label=_("Longitude"))
    lat = forms.FloatField(label=_("Latitude"))
    crs = forms.ChoiceField(
        label=_("coordinate system"), choices=[(c, CRS_LABELS[c]) for c in CRS_CHOICES]
    )
