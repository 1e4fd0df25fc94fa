"""Pages of the accounts app: log-in, audited reveal of personal data, the audit log."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import scoping, selectors, services
from accounts.forms import AuditFilterForm, RevealForm, ThrottledAuthenticationForm
from gridmap import pii


class LoginView(auth_views.LoginView):
    """The log-in page, throttled after repeated failures."""

    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True


def _wants_json(request):
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _masked(kind, obj):
    """Return {field: masked value} of a revealable record, for the reveal form."""
    if kind == "rentalhouse":
        return {
            "landlord_name": pii.mask_name(obj.landlord_name),
            "landlord_phone": obj.landlord_phone_masked,
        }
    return {
        "name": pii.mask_name(obj.name),
        "id_number": obj.id_number_masked,
        "phone": obj.phone_masked,
    }


FIELD_LABELS = {
    "name": _("Name"),
    "id_number": _("ID number"),
    "phone": _("Phone"),
    "landlord_name": _("Landlord"),
    "landlord_phone": _("Landlord’s phone"),
}


@login_required
@require_http_methods(["GET", "POST"])
def reveal(request, kind, pk):
    """Show one record's personal data in clear after the user states why (audited)."""
    model = services.revealable_model(kind)
    if model is None:
        return _error(request, "不支持的记录类型 / unknown record type", status=404)
    if not scoping.can_reveal(request.user):
        raise PermissionDenied(
            "您的角色无权查看完整个人信息 / your role may not reveal personal data"
        )
    obj = scoping.get_scoped_or_404(request.user, model._default_manager.all(), pk=pk)
    available = list(services.REVEALABLE[kind][1])
    form = RevealForm(request.POST or None, field_choices=available)
    values = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                values = services.reveal(
                    user=request.user,
                    kind=kind,
                    pk=obj.pk,
                    fields=form.cleaned_data["fields"],
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
        if values is None:
            status = 400
            if _wants_json(request):
                return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
        elif _wants_json(request):
            response = JsonResponse({"model": kind, "id": obj.pk, "values": values})
            add_never_cache_headers(response)
            return response
    context = {
        "kind": kind,
        "obj": obj,
        "masked": [(FIELD_LABELS[n], v) for n, v in _masked(kind, obj).items()],
        "values": [(FIELD_LABELS[n], v) for n, v in (values or {}).items()],
        "form": form,
    }
    response = render(request, "accounts/reveal.html", context, status=status)
    add_never_cache_headers(response)
    return response


def _error(request, message, status):
    if _wants_json(request):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "accounts/error.html", {"message": message}, status=status)


@login_required
@require_GET
def audit_log(request):
    """Search the audit log of reveals and exports (the district and the administrator)."""
    if not scoping.can_read_audit(request.user):
        raise PermissionDenied(
            "只有区指挥中心可以查询审计日志 / only the district may read the audit log"
        )
    form = AuditFilterForm(request.GET or None)
    status = 200
    if form.is_bound and not form.is_valid():
        entries = selectors.audit_entries(filters={}).none()
        status = 400
    else:
        entries = selectors.audit_entries(filters=form.cleaned_data if form.is_bound else {})
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "accounts/audit_log.html", context, status=status)
