"""Forms of the case pages: one-window intake, workflow actions, notes and photos."""

import re

from django import forms
from django.conf import settings
from django.utils.translation import get_language, gettext_lazy, pgettext_lazy
from django.utils.translation import gettext as _

from cases import selectors, services
from cases.models import Callback, Category, LegalExpert, Source, Urgency
from gridmap import pii
from layers import crs as crs_lib

SOURCE_LABELS = {
    Source.POLICE_110: Source.POLICE_110.label,
    Source.PETITION: gettext_lazy("Petition (visit/letter)"),
    Source.DISPUTE: Source.DISPUTE.label,
    Source.PATROL: Source.PATROL.label,
    Source.HOTLINE_12345: Source.HOTLINE_12345.label,
    Source.SELF_SERVICE: gettext_lazy("Resident self-report"),
}
URGENCY_LABELS = {u: u.label for u in (Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL)}
CRS_LABELS = {
    "wgs84": pgettext_lazy("intake form", "WGS84 (GPS)"),
    "cgcs2000": gettext_lazy("CGCS2000 (China Geodetic 2000)"),
    "gcj02": gettext_lazy("GCJ-02 (AMap/Tencent/WeChat)"),
    "bd09": gettext_lazy("BD-09 (Baidu)"),
    "webmercator": gettext_lazy("Web Mercator (metres)"),
}
RATING_LABELS = {r: r.label for r in Callback.Rating}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files, each type- and size-checked."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,application/pdf"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        files = [super(MultipleFileField, self).clean(f, initial) for f in files]
        files = [f for f in files if f]
        if len(files) > services.MAX_ATTACHMENTS:
            raise forms.ValidationError(
                _("At most %(count)s attachments") % {"count": services.MAX_ATTACHMENTS}
            )
        for upload in files:
            try:
                services.check_attachment(upload)
            except services.CaseError as exc:
                raise forms.ValidationError(in_language(exc.message)) from None
        return files


_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def in_language(message):
    """Return the half of a bilingual message ("中文 / English") in the user's language.

    The services and validators answer in both languages (the API shows both); a page
    shows one: the Chinese before the first " / ", or the English from the first part
    that starts like English (a user's file name in it may be Chinese).
    """
    parts = message.split(" / ")
    language = get_language() or settings.LANGUAGE_CODE
    if language.startswith("zh"):
        return parts[0]
    for k in range(1, len(parts)):
        if parts[k][:1].isascii() and parts[k][:1].isalpha() and not _CJK.search(parts[k][:10]):
            return " / ".join(parts[k:])
    return message


class IntakeForm(forms.Form):
    """One-window intake (一窗式受理)."""

    source = forms.ChoiceField(label=gettext_lazy("Source"), choices=list(SOURCE_LABELS.items()))
    category = forms.ModelChoiceField(
        label=gettext_lazy("Matter category"),
        queryset=Category.objects.filter(active=True),
        empty_label=gettext_lazy("Please choose"),
        error_messages={"invalid_choice": gettext_lazy("Choose a valid matter category")},
    )
    urgency = forms.ChoiceField(
        label=gettext_lazy("Urgency"), choices=list(URGENCY_LABELS.items()), initial=Urgency.NORMAL
    )
    title = forms.CharField(label=gettext_lazy("Title"), max_length=120, required=False)
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    # More than one person-visit, and how many at most: the intake rule decides
    # (selectors.intake_refusal), as for the API.
    visitors = forms.IntegerField(label=gettext_lazy("Visitors"), min_value=1, initial=1)
    # Location: a map click (fills lon/lat in WGS84), typed coordinates with their CRS, or a
    # known rental house.
    lon = forms.CharField(label=gettext_lazy("Longitude / X"), required=False, max_length=30)
    lat = forms.CharField(label=gettext_lazy("Latitude / Y"), required=False, max_length=30)
    crs = forms.ChoiceField(
        label=gettext_lazy("Coordinate system"), choices=list(CRS_LABELS.items()), initial="wgs84"
    )
    rental_house = forms.CharField(
        label=gettext_lazy("Or choose a rental house (code)"), required=False, max_length=40
    )
    address = forms.CharField(label=gettext_lazy("Address"), max_length=200, required=False)
    applicant_name = forms.CharField(
        label=gettext_lazy("Applicant’s name"), max_length=50, required=False
    )
    applicant_phone = forms.CharField(
        label=gettext_lazy("Applicant’s phone"), max_length=30, required=False
    )
    applicant_id_number = forms.CharField(
        label=gettext_lazy("Applicant’s ID number"), max_length=30, required=False
    )
    respondent_name = forms.CharField(
        label=gettext_lazy("Respondent’s name"), max_length=50, required=False
    )
    respondent_phone = forms.CharField(
        label=gettext_lazy("Respondent’s phone"), max_length=30, required=False
    )
    respondent_id_number = forms.CharField(
        label=gettext_lazy("Respondent’s ID number"), max_length=30, required=False
    )
    attachments = MultipleFileField(
        label=gettext_lazy("Photos or attachments (images or PDF, at most 10 MB each)")
    )
    auto_dispatch = forms.BooleanField(
        label=gettext_lazy("Accept at once and dispatch by the rules"), required=False, initial=True
    )
    # Set by the duplicate step: register anyway, or merge into an original case.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    merge_into = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        for field in self.fields.values():
            field.error_messages["required"] = _("This field is required")
        if user is not None:
            # Offer only what the user's role may register and do (selectors.intake_*).
            sources = selectors.intake_sources(user)
            self.fields["source"].choices = [
                (value, label) for value, label in SOURCE_LABELS.items() if value in sources
            ]
            if not selectors.may_auto_dispatch(user):
                del self.fields["auto_dispatch"]
        self.fields["visitors"].widget.attrs["max"] = selectors.max_visitors()

    def clean_rental_house(self):
        code = (self.cleaned_data.get("rental_house") or "").strip()
        if not code:
            return None
        from accounts.scoping import scope
        from layers.models import RentalHouse

        house = scope(self.user, RentalHouse.objects.all()).filter(code=code).first()
        if house is None:
            raise forms.ValidationError(
                _("No rental house has this code (or it is outside your area)")
            )
        return house

    def _party(self, prefix, role):
        name = (self.cleaned_data.get(f"{prefix}_name") or "").strip()
        phone = (self.cleaned_data.get(f"{prefix}_phone") or "").strip()
        number = (self.cleaned_data.get(f"{prefix}_id_number") or "").strip()
        if not (name or phone or number):
            return None
        if not name:
            self.add_error(f"{prefix}_name", _("A name is required with a phone or ID number"))
        for field, check in (
            (f"{prefix}_phone", pii.validate_phone),
            (f"{prefix}_id_number", pii.validate_id_number),
        ):
            value = self.cleaned_data.get(field)
            if value:
                try:
                    check(value)
                except pii.PIIError as exc:
                    self.add_error(field, in_language(exc.message))
        return {"name": name, "phone": phone, "id_number": number, "role": role}

    def clean(self):
        data = super().clean()
        house = data.get("rental_house")
        lon, lat = (data.get("lon") or "").strip(), (data.get("lat") or "").strip()
        if lon or lat:
            try:
                data["location"] = services.to_point(lon, lat, data.get("crs") or "wgs84")
            except services.CaseError as exc:
                self.add_error("lon", in_language(exc.message))
        elif house is not None:
            data["location"] = house.location
        else:
            self.add_error(
                "lon", _("Click the location on the map, type coordinates or choose a rental house")
            )
        parties = [
            self._party("applicant", "applicant"),
            self._party("respondent", "respondent"),
        ]
        data["parties"] = [p for p in parties if p]
        if self.user is not None and data.get("source") and "visitors" in data:
            self._check_intake_rule(data)
        return data

    def _check_intake_rule(self, data):
        if "auto_dispatch" in self.fields:
            wants = bool(data.get("auto_dispatch"))
        else:
            # Not offered to this role: a posted value is a refusal, not silently dropped.
            name = self.add_prefix("auto_dispatch")
            wants = forms.CheckboxInput().value_from_datadict(self.data, self.files, name)
        refusal = selectors.intake_refusal(
            self.user, source=data["source"], visitors=data["visitors"], auto_dispatch=wants
        )
        if refusal is not None:
            field = refusal.field if refusal.field in self.fields else None
            self.add_error(field, in_language(refusal.message))


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=pgettext_lazy("refusal or return", "Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class NoteActionForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Remarks"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class CallbackForm(NoteActionForm):
    rating = forms.ChoiceField(
        label=gettext_lazy("Satisfaction"),
        choices=list(RATING_LABELS.items()),
        widget=forms.RadioSelect,
    )


class MergeForm(NoteActionForm):
    into = forms.CharField(label=gettext_lazy("Number of the original case"), max_length=24)


class DispatchForm(NoteActionForm):
    """Dispatch by the rules (no handler chosen) or reassign by hand."""

    handler = forms.ChoiceField(
        label=gettext_lazy("Handler (empty: dispatch by the routing rules)"), required=False
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        from cases.models import HandlerUnit
        from layers.models import GridWorker

        choices = [("", _("Dispatch by the routing rules"))]
        if case is not None and case.grid_id:
            for worker in GridWorker.objects.filter(grids__pk=case.grid_id).order_by("name"):
                choices.append(
                    (f"worker:{worker.pk}", _("Grid worker %(name)s") % {"name": worker.name})
                )
        for unit in HandlerUnit.objects.filter(active=True).order_by("kind", "name"):
            choices.append((f"unit:{unit.pk}", unit.name))
        self.fields["handler"].choices = choices

    def clean_handler(self):
        from cases.models import HandlerUnit
        from layers.models import GridWorker

        value = self.cleaned_data.get("handler") or ""
        if not value:
            return None
        kind, _sep, pk = value.partition(":")
        model = GridWorker if kind == "worker" else HandlerUnit
        handler = model.objects.filter(pk=pk).first() if pk.isdigit() else None
        if handler is None:
            raise forms.ValidationError(_("No such handler"))
        return handler


ACTION_FORMS = {
    "refuse": ReasonForm,
    "return": ReasonForm,
    "callback": CallbackForm,
    "merge": MergeForm,
    "dispatch": DispatchForm,
}


def action_form(action, *args, **kwargs):
    cls = ACTION_FORMS.get(action, NoteActionForm)
    if cls is not DispatchForm:
        kwargs.pop("case", None)
    return cls(*args, **kwargs)


class AddNoteForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    photos = MultipleFileField(label=gettext_lazy("Photos"))


class ConsultationForm(forms.Form):
    experts = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Legal experts"),
        queryset=LegalExpert.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose the experts for the consultation")},
    )
    note = forms.CharField(
        label=gettext_lazy("Matter to consult on"), max_length=2000, required=False
    )


class OpinionForm(forms.Form):
    opinion = forms.CharField(
        label=gettext_lazy("Consultation opinion"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def crs_choices():
    return [(c, CRS_LABELS.get(c, c)) for c in crs_lib.CRS_CHOICES]
