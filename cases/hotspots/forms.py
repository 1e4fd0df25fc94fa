"""The query of the hotspot analysis page, validated with clear messages.

The messages are English msgids with their Chinese in locale/zh_Hans; they are translated
when the form is built or validated, in the language of the request.
"""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"}),
    )


def _weight_field(label):
    return forms.FloatField(
        label=label,
        required=False,
        min_value=0,
        max_value=100,
        error_messages={
            "invalid": _("The weight of “%(label)s” must be a number.") % {"label": label},
            "min_value": _("The weight of “%(label)s” cannot be negative.") % {"label": label},
            "max_value": _("The weight of “%(label)s” cannot be greater than 100.")
            % {"label": label},
        },
        widget=forms.NumberInput(
            attrs={"step": "0.05", "min": "0", "class": "form-control form-control-sm"}
        ),
    )


class HotspotQueryForm(forms.Form):
    """Period, filters, area and layer of the analysis; risk weights."""

    start = _date_field(gettext_lazy("Start date"))
    end = _date_field(gettext_lazy("End date"))
    compare_start = _date_field(gettext_lazy("Start date of the comparison period"))
    compare_end = _date_field(gettext_lazy("End date of the comparison period"))
    category = forms.CharField(label=gettext_lazy("Matter category"), required=False, max_length=40)
    source = forms.CharField(label=gettext_lazy("Case source"), required=False, max_length=20)
    street = forms.IntegerField(
        label=gettext_lazy("Street"),
        required=False,
        error_messages={"invalid": gettext_lazy("The street number must be an integer.")},
    )
    community = forms.IntegerField(
        label=gettext_lazy("Community"),
        required=False,
        error_messages={"invalid": gettext_lazy("The community number must be an integer.")},
    )
    grid = forms.IntegerField(
        label=gettext_lazy("Grid"),
        required=False,
        error_messages={"invalid": gettext_lazy("The grid number must be an integer.")},
    )
    layer = forms.CharField(label=gettext_lazy("Map layer"), required=False)
    variable = forms.CharField(label=gettext_lazy("Analysis variable"), required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        for name in ("start", "end", "compare_start", "compare_end"):
            field = self.fields[name]
            field.error_messages["invalid"] = _(
                "%(label)s is not a valid date; enter it as year-month-day, e.g. 2026-03-01."
            ) % {"label": field.label}
        from cases.hotspots.views import RISK_LABELS  # views imports this module

        for name in RISK_INDICATORS:
            self.fields[f"w_{name}"] = _weight_field(RISK_LABELS[name])

    # -- single fields -----------------------------------------------------------------

    def clean_category(self):
        from cases.models import Category

        code = self.cleaned_data["category"].strip()
        if not code:
            return None
        category = Category.objects.filter(code=code).first()
        if category is None:
            raise forms.ValidationError(
                _("Unknown case category “%(code)s”; choose one from the list.") % {"code": code}
            )
        return category

    def clean_source(self):
        from cases.models import Source

        value = self.cleaned_data["source"].strip()
        if not value:
            return ""
        if value not in Source.values:
            raise forms.ValidationError(
                _("Unknown case source “%(value)s”; choose one from the list.") % {"value": value}
            )
        return value

    def clean_layer(self):
        value = self.cleaned_data["layer"].strip() or "gi"
        if value not in dict(LAYERS):
            raise forms.ValidationError(_("Unknown map layer “%(value)s”.") % {"value": value})
        return value

    def clean_variable(self):
        value = self.cleaned_data["variable"].strip() or "cases"
        if value not in dict(VARIABLES):
            raise forms.ValidationError(
                _("Unknown analysis variable “%(value)s”.") % {"value": value}
            )
        return value

    # -- the whole form ----------------------------------------------------------------

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        end = data.get("end") or today()
        start = data.get("start") or (end - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1))
        data["period"] = self._period(start, end, _("The period"))
        cs, ce = data.get("compare_start"), data.get("compare_end")
        if bool(cs) != bool(ce):
            raise forms.ValidationError(
                _("Enter both the start and the end date of the comparison period (or neither).")
            )
        data["compare"] = self._period(cs, ce, _("The comparison period")) if cs else None
        weights = {}
        given = any(data.get(f"w_{name}") is not None for name in RISK_INDICATORS)
        for name in RISK_INDICATORS:
            value = data.get(f"w_{name}")
            if given:
                weights[name] = float(value or 0.0)
            else:
                weights[name] = DEFAULT_WEIGHTS[name]
        if not any(v > 0 for v in weights.values()):
            raise forms.ValidationError(
                _("At least one weight of the risk index must be greater than 0.")
            )
        data["weights"] = weights
        return data

    def _period(self, start, end, what):
        if start < EARLIEST or end < EARLIEST:
            raise forms.ValidationError(
                _("%(period)s cannot have dates before 2000-01-01.") % {"period": what}
            )
        if end > today() + timedelta(days=366):
            raise forms.ValidationError(
                _("%(period)s ends too far ahead: no later than a year from today.")
                % {"period": what}
            )
        if end < start:
            raise forms.ValidationError(
                _("%(period)s ends (%(end)s) before it starts (%(start)s).")
                % {"period": what, "end": f"{end:%Y-%m-%d}", "start": f"{start:%Y-%m-%d}"}
            )
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(
                _("%(period)s cannot be longer than 3 years.") % {"period": what}
            )
        return Period(start, end)

    def error_list(self):
        """Return every error message as a flat list of strings, labelled by field."""
        out = []
        for field, errors in self.errors.items():
            label = self.fields[field].label if field in self.fields else ""
            for message in errors:
                if label and str(label) not in message:
                    message = _("%(label)s: %(message)s") % {"label": label, "message": message}
                out.append(message)
        return out
