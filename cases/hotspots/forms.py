"""The query of the hotspot analysis page, validated with clear Chinese messages."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from cases.hotspots.indicators import BEIJING, Period
from cases.hotspots.stats import RISK_INDICATORS

LAYERS = [
    ("gi", "热点分析（Gi*）"),
    ("lisa", "聚类与异常值（局部莫兰指数）"),
    ("kde", "案件核密度"),
    ("emerging", "时空热点（新兴热点）"),
    ("risk", "出租房屋社区风险指数"),
]

VARIABLES = [
    ("cases", "案件数"),
    ("case_rate_per_1000", "每千人案件发生率"),
]

DEFAULT_WEIGHTS = {
    "case_rate_per_1000": 0.25,
    "rental_density": 0.20,
    "floating_ratio": 0.15,
    "tenants_per_room": 0.15,
    "unregistered_tenants": 0.15,
    "overdue_share": 0.10,
}

DEFAULT_WEEKS = 26
MAX_DAYS = 3 * 366
EARLIEST = date(2000, 1, 1)


def today():
    return timezone.now().astimezone(BEIJING).date()


def _date_field(label):
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": f"{label}格式不正确，请按“年-月-日”填写，例如 2026-03-01。"},
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"}),
    )


def _weight_field(label):
    return forms.FloatField(
        label=label,
        required=False,
        min_value=0,
        max_value=100,
        error_messages={
            "invalid": f"“{label}”的权重必须是数字。",
            "min_value": f"“{label}”的权重不能为负数。",
            "max_value": f"“{label}”的权重不能大于 100。",
        },
        widget=forms.NumberInput(
            attrs={"step": "0.05", "min": "0", "class": "form-control form-control-sm"}
        ),
    )


class HotspotQueryForm(forms.Form):
    """Period, filters, area and layer of the analysis; risk weights."""

    start = _date_field("开始日期")
    end = _date_field("结束日期")
    compare_start = _date_field("对比期开始日期")
    compare_end = _date_field("对比期结束日期")
    category = forms.CharField(label="事项类别", required=False, max_length=40)
    source = forms.CharField(label="案件来源", required=False, max_length=20)
    street = forms.IntegerField(
        label="街道", required=False, error_messages={"invalid": "街道编号必须是整数。"}
    )
    community = forms.IntegerField(
        label="社区", required=False, error_messages={"invalid": "社区编号必须是整数。"}
    )
    grid = forms.IntegerField(
        label="网格", required=False, error_messages={"invalid": "网格编号必须是整数。"}
    )
    layer = forms.CharField(label="地图图层", required=False)
    variable = forms.CharField(label="分析变量", required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        for name, label in RISK_INDICATORS.items():
            self.fields[f"w_{name}"] = _weight_field(label)

    # -- single fields -----------------------------------------------------------------

    def clean_category(self):
        from cases.models import Category

        code = self.cleaned_data["category"].strip()
        if not code:
            return None
        category = Category.objects.filter(code=code).first()
        if category is None:
            raise forms.ValidationError(f"未知的事项类别“{code}”，请从列表中选择。")
        return category

    def clean_source(self):
        from cases.models import Source

        value = self.cleaned_data["source"].strip()
        if not value:
            return ""
        if value not in Source.values:
            raise forms.ValidationError(f"未知的案件来源“{value}”，请从列表中选择。")
        return value

    def clean_layer(self):
        value = self.cleaned_data["layer"].strip() or "gi"
        if value not in dict(LAYERS):
            raise forms.ValidationError(f"未知的地图图层“{value}”。")
        return value

    def clean_variable(self):
        value = self.cleaned_data["variable"].strip() or "cases"
        if value not in dict(VARIABLES):
            raise forms.ValidationError(f"未知的分析变量“{value}”。")
        return value

    # -- the whole form ----------------------------------------------------------------

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        end = data.get("end") or today()
        start = data.get("start") or (end - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1))
        data["period"] = self._period(start, end, "统计期")
        cs, ce = data.get("compare_start"), data.get("compare_end")
        if bool(cs) != bool(ce):
            raise forms.ValidationError("对比期须同时填写开始日期和结束日期（或都不填）。")
        data["compare"] = self._period(cs, ce, "对比期") if cs else None
        weights = {}
        given = any(data.get(f"w_{name}") is not None for name in RISK_INDICATORS)
        for name in RISK_INDICATORS:
            value = data.get(f"w_{name}")
            if given:
                weights[name] = float(value or 0.0)
            else:
                weights[name] = DEFAULT_WEIGHTS[name]
        if not any(v > 0 for v in weights.values()):
            raise forms.ValidationError("风险指数的权重至少要有一个大于 0。")
        data["weights"] = weights
        return data

    def _period(self, start, end, what):
        if start < EARLIEST or end < EARLIEST:
            raise forms.ValidationError(f"{what}的日期不能早于 2000-01-01。")
        if end > today() + timedelta(days=366):
            raise forms.ValidationError(f"{what}的结束日期太远，不能晚于明年今日。")
        if end < start:
            raise forms.ValidationError(
                f"{what}的结束日期（{end:%Y-%m-%d}）早于开始日期（{start:%Y-%m-%d}）。"
            )
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"{what}不能超过 3 年。")
        return Period(start, end)

    def error_list(self):
        """Return every error message as a flat list of strings, labelled by field."""
        out = []
        for field, errors in self.errors.items():
            label = self.fields[field].label if field in self.fields else ""
            for message in errors:
                out.append(f"{label}：{message}" if label and label not in message else message)
        return out
