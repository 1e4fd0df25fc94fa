"""Forms of the accounts app."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from accounts import audit, services
from accounts.models import AuditEntry, Role


class ThrottledAuthenticationForm(AuthenticationForm):
    """The log-in form, saying so when the user name is locked after repeated failures."""

    locked_message = ""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username:
            until = services.login_locked_until(username, audit.client_ip(self.request))
            if until:
                local = timezone.localtime(until)
                self.locked_message = (
                    f"登录失败次数过多，账号已锁定至 {local:%H:%M}，请稍后再试 / "
                    f"too many failed log-ins: locked until {local:%H:%M}"
                )
                raise forms.ValidationError(self.locked_message, code="locked")
        return super().clean()


class RevealForm(forms.Form):
    """The reason for revealing one record's personal data."""

    # Lengths are checked on the normalised text (services.clean_reason): invisible
    # characters must neither make a reason nor count towards its length.
    reason = forms.CharField(
        label="查看原因 / Reason",
        widget=forms.Textarea(
            attrs={"rows": 2, "class": "form-control", "maxlength": services.REASON_MAX_LENGTH}
        ),
    )
    fields = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, field_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fields"].choices = [(name, name) for name in field_choices]

    def clean_reason(self):
        return services.clean_reason(self.cleaned_data["reason"])


class AuditFilterForm(forms.Form):
    """Filters of the audit log page; every one optional and validated."""

    username = forms.CharField(label="用户 / User", required=False, max_length=150)
    action = forms.ChoiceField(
        label="操作 / Action",
        required=False,
        choices=[("", "全部 / all")] + list(AuditEntry.Action.choices),
    )
    role = forms.ChoiceField(
        label="角色 / Role", required=False, choices=[("", "全部 / all")] + list(Role.choices)
    )
    model = forms.CharField(label="记录类型 / Record type", required=False, max_length=60)
    object_pk = forms.CharField(label="记录ID / Record id", required=False, max_length=40)
    ip = forms.GenericIPAddressField(label="IP", required=False)
    since = forms.DateField(label="起 / From", required=False)
    until = forms.DateField(label="止 / To", required=False)
    q = forms.CharField(label="原因包含 / Reason contains", required=False, max_length=100)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("开始日期晚于结束日期 / 'from' is after 'to'")
        return data
