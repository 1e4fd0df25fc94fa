from django import forms
from django.utils.translation import gettext_lazy as _

from layers.crs import CRS_CHOICES
from layers.models import ImportJob

CRS_LABELS = {
    "wgs84": "WGS84 (GPS)",
    "cgcs2000": "CGCS2000 (EPSG:4490)",
    "webmercator": "Web Mercator (EPSG:3857)",
    "gcj02": "GCJ-02（高德/腾讯/微信）",
    "bd09": "BD-09（百度）",
}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=ImportJob.Kind.choices)
    file = forms.FileField(label=_("file"))
    crs = forms.ChoiceField(
        label=_("coordinate system"),
        choices=[("", "文件自带 / as in the file (WGS84)")]
        + [(c, CRS_LABELS[c]) for c in CRS_CHOICES],
        required=False,
    )
    partial = forms.BooleanField(label=_("keep the good rows"), required=False)
    dry_run = forms.BooleanField(label=_("check only"), required=False)


class RelocateForm(forms.Form):
    lon = forms.FloatField(label="经度 lon")
    lat = forms.FloatField(label="纬度 lat")
    crs = forms.ChoiceField(
        label=_("coordinate system"), choices=[(c, CRS_LABELS[c]) for c in CRS_CHOICES]
    )
