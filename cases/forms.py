"""Forms of the case pages: one-window intake, workflow actions, notes and photos."""

from django import forms

from cases import services
from cases.models import Callback, Category, LegalExpert, Source, Urgency
from gridmap import pii
from layers import crs as crs_lib

SOURCE_LABELS = {
    Source.POLICE_110: "110非警务警情分流",
    Source.PETITION: "信访（来访/来信）",
    Source.DISPUTE: "矛盾纠纷",
    Source.PATROL: "网格员巡查上报",
    Source.HOTLINE_12345: "12345热线",
    Source.SELF_SERVICE: "群众自助申报",
}
URGENCY_LABELS = {Urgency.NORMAL: "一般", Urgency.URGENT: "紧急", Urgency.CRITICAL: "特急"}
CRS_LABELS = {
    "wgs84": "WGS84（GPS）",
    "cgcs2000": "CGCS2000（国家2000）",
    "gcj02": "GCJ-02（高德/腾讯/微信）",
    "bd09": "BD-09（百度）",
    "webmercator": "Web墨卡托（米）",
}
RATING_LABELS = {
    Callback.Rating.SATISFIED: "满意",
    Callback.Rating.BASICALLY: "基本满意",
    Callback.Rating.UNSATISFIED: "不满意",
}


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
            raise forms.ValidationError(f"附件最多 {services.MAX_ATTACHMENTS} 个")
        for upload in files:
            try:
                services.check_attachment(upload)
            except services.CaseError as exc:
                raise forms.ValidationError(exc.message.split(" / ")[0]) from None
        return files


def _zh(message):
    """Return the Chinese half of a bilingual message (the UI is Chinese first)."""
    return message.split(" / ")[0]


class IntakeForm(forms.Form):
    """One-window intake (一窗式受理)."""

    source = forms.ChoiceField(label="来源", choices=list(SOURCE_LABELS.items()))
    category = forms.ModelChoiceField(
        label="事项类别",
        queryset=Category.objects.filter(active=True),
        empty_label="请选择",
        error_messages={"invalid_choice": "请选择有效的事项类别"},
    )
    urgency = forms.ChoiceField(
        label="紧急程度", choices=list(URGENCY_LABELS.items()), initial=Urgency.NORMAL
    )
    title = forms.CharField(label="标题", max_length=120, required=False)
    description = forms.CharField(
        label="情况描述", max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    visitors = forms.IntegerField(label="来访人次", min_value=1, max_value=999, initial=1)
    # Location: a map click (fills lon/lat in WGS84), typed coordinates with their CRS, or a
    # known rental house.
    lon = forms.CharField(label="经度 / X", required=False, max_length=30)
    lat = forms.CharField(label="纬度 / Y", required=False, max_length=30)
    crs = forms.ChoiceField(label="坐标系", choices=list(CRS_LABELS.items()), initial="wgs84")
    rental_house = forms.CharField(label="或选择出租房屋（编码）", required=False, max_length=40)
    address = forms.CharField(label="地址", max_length=200, required=False)
    applicant_name = forms.CharField(label="申请人姓名", max_length=50, required=False)
    applicant_phone = forms.CharField(label="申请人电话", max_length=30, required=False)
    applicant_id_number = forms.CharField(label="申请人身份证号", max_length=30, required=False)
    respondent_name = forms.CharField(label="被申请人姓名", max_length=50, required=False)
    respondent_phone = forms.CharField(label="被申请人电话", max_length=30, required=False)
    respondent_id_number = forms.CharField(label="被申请人身份证号", max_length=30, required=False)
    attachments = MultipleFileField(label="照片或附件（图片/PDF，单个不超过10MB）")
    auto_dispatch = forms.BooleanField(
        label="登记后立即受理并按规则派遣", required=False, initial=True
    )
    # Set by the duplicate step: register anyway, or merge into an original case.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    merge_into = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        for field in self.fields.values():
            field.error_messages.setdefault("required", "此项必填")
            field.error_messages["required"] = "此项必填"

    def clean_rental_house(self):
        code = (self.cleaned_data.get("rental_house") or "").strip()
        if not code:
            return None
        from accounts.scoping import scope
        from layers.models import RentalHouse

        house = scope(self.user, RentalHouse.objects.all()).filter(code=code).first()
        if house is None:
            raise forms.ValidationError("找不到该编码的出租房屋（或不在您的辖区）")
        return house

    def _party(self, prefix, role):
        name = (self.cleaned_data.get(f"{prefix}_name") or "").strip()
        phone = (self.cleaned_data.get(f"{prefix}_phone") or "").strip()
        number = (self.cleaned_data.get(f"{prefix}_id_number") or "").strip()
        if not (name or phone or number):
            return None
        if not name:
            self.add_error(f"{prefix}_name", "填写了电话或身份证号时须填写姓名")
        for field, check in (
            (f"{prefix}_phone", pii.validate_phone),
            (f"{prefix}_id_number", pii.validate_id_number),
        ):
            value = self.cleaned_data.get(field)
            if value:
                try:
                    check(value)
                except pii.PIIError as exc:
                    self.add_error(field, _zh(exc.message))
        return {"name": name, "phone": phone, "id_number": number, "role": role}

    def clean(self):
        data = super().clean()
        house = data.get("rental_house")
        lon, lat = (data.get("lon") or "").strip(), (data.get("lat") or "").strip()
        if lon or lat:
            try:
                data["location"] = services.to_point(lon, lat, data.get("crs") or "wgs84")
            except services.CaseError as exc:
                self.add_error("lon", _zh(exc.message))
        elif house is not None:
            data["location"] = house.location
        else:
            self.add_error("lon", "请在地图上点选位置、输入坐标，或选择出租房屋")
        parties = [
            self._party("applicant", "applicant"),
            self._party("respondent", "respondent"),
        ]
        data["parties"] = [p for p in parties if p]
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="理由", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class NoteActionForm(forms.Form):
    note = forms.CharField(
        label="说明", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class CallbackForm(NoteActionForm):
    rating = forms.ChoiceField(
        label="满意度", choices=list(RATING_LABELS.items()), widget=forms.RadioSelect
    )


class MergeForm(NoteActionForm):
    into = forms.CharField(label="原案件编号", max_length=24)


class DispatchForm(NoteActionForm):
    """Dispatch by the rules (no handler chosen) or reassign by hand."""

    handler = forms.ChoiceField(label="承办人（空：按分流规则自动派遣）", required=False)

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        from cases.models import HandlerUnit
        from layers.models import GridWorker

        choices = [("", "按分流规则自动派遣")]
        if case is not None and case.grid_id:
            for worker in GridWorker.objects.filter(grids__pk=case.grid_id).order_by("name"):
                choices.append((f"worker:{worker.pk}", f"网格员 {worker.name}"))
        for unit in HandlerUnit.objects.filter(active=True).order_by("kind", "name"):
            choices.append((f"unit:{unit.pk}", unit.name))
        self.fields["handler"].choices = choices

    def clean_handler(self):
        from cases.models import HandlerUnit
        from layers.models import GridWorker

        value = self.cleaned_data.get("handler") or ""
        if not value:
            return None
        kind, _, pk = value.partition(":")
        model = GridWorker if kind == "worker" else HandlerUnit
        handler = model.objects.filter(pk=pk).first() if pk.isdigit() else None
        if handler is None:
            raise forms.ValidationError("承办人不存在")
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
        label="备注", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    photos = MultipleFileField(label="照片")


class ConsultationForm(forms.Form):
    experts = forms.ModelMultipleChoiceField(
        label="法律专家",
        queryset=LegalExpert.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "请选择参加会商的专家"},
    )
    note = forms.CharField(label="会商事项", max_length=2000, required=False)


class OpinionForm(forms.Form):
    opinion = forms.CharField(
        label="会商意见", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


def crs_choices():
    return [(c, CRS_LABELS.get(c, c)) for c in crs_lib.CRS_CHOICES]
