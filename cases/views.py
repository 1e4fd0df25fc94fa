"""Pages of cases: intake, lists, a case with its trail and actions, the phone page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from accounts.scoping import has_role, scope
from cases import forms, selectors, services
from cases.models import (
    OPEN_STATUSES,
    Attachment,
    Consultation,
    Reminder,
    Status,
)

DESK_ROLES = (Role.INTAKE, Role.DISTRICT, Role.STREET, Role.COMMUNITY)


_in_language = forms.in_language

# The names of the workflow actions on buttons and in messages (services.ACTION_NAMES
# holds both languages for the services' own messages).
ACTION_LABELS = {
    "register": pgettext_lazy("case action", "Register"),
    "accept": pgettext_lazy("case action", "Accept"),
    "refuse": pgettext_lazy("case action", "Refuse"),
    "dispatch": pgettext_lazy("case action", "Dispatch"),
    "start": pgettext_lazy("case action", "Start handling"),
    "resolve": pgettext_lazy("case action", "Resolve"),
    "verify": pgettext_lazy("case action", "Verify"),
    "callback": pgettext_lazy("case action", "Call back"),
    "close": pgettext_lazy("case action", "Close"),
    "return": pgettext_lazy("case action", "Return"),
    "reopen": pgettext_lazy("case action", "Reopen"),
    "escalate": pgettext_lazy("case action", "Escalate"),
    "merge": pgettext_lazy("case action", "Merge"),
}


def _action_label(action):
    return ACTION_LABELS.get(action, services.ACTION_NAMES[action][0])


def _joined_errors(form):
    separator = pgettext("error separator", "; ")
    return separator.join(f"{e}" for errs in form.errors.values() for e in errs)


def _visible_case(request, pk):
    return get_object_or_404(
        selectors.cases_visible_to(request.user).select_related(
            "category", "grid", "community", "street", "merged_into", "rental_house"
        ),
        pk=pk,
    )


# --- lists -------------------------------------------------------------------------------

LIST_TABS = {
    "open": (gettext_lazy("Open"), Q(status__in=OPEN_STATUSES)),
    "registered": (gettext_lazy("To accept"), Q(status=Status.REGISTERED)),
    "overdue": (gettext_lazy("Overdue"), Q(status__in=services.RUNNING_STATUSES)),
    "unassigned": (
        gettext_lazy("Not in any grid"),
        Q(grid__isnull=True) & Q(status__in=OPEN_STATUSES),
    ),
    "mine": (gettext_lazy("Handled by me"), None),
    "all": (gettext_lazy("All"), Q()),
}


@login_required
@require_GET
def case_list(request):
    """List the cases the user may see, by tab, with a search by number or text."""
    tab = request.GET.get("tab", "open")
    if tab not in LIST_TABS:
        tab = "open"
    qs = selectors.cases_visible_to(request.user)
    if tab == "mine":
        qs = selectors.assigned_to(request.user, qs)
    else:
        qs = qs.filter(LIST_TABS[tab][1])
    if tab == "overdue":
        qs = qs.filter(deadline__lt=timezone.now())
    q = (request.GET.get("q") or "").strip()[:50]
    if q:
        qs = qs.filter(Q(number__icontains=q) | Q(description__icontains=q) | Q(title__icontains=q))
    qs = qs.select_related("category", "grid", "community").order_by("-reported_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "tab": tab,
        "tabs": [(k, v[0]) for k, v in LIST_TABS.items()],
        "q": q,
        "can_register": selectors.may_register(request.user),
        "now": timezone.now(),
        "petitions": selectors.petition_counts(selectors.cases_visible_to(request.user)),
    }
    return render(request, "cases/case_list.html", context)


# --- intake ------------------------------------------------------------------------------


@login_required
def case_new(request):
    """One-window intake: the form, the duplicate check, then register (or merge)."""
    if not selectors.may_register(request.user):
        raise PermissionDenied("您的角色不能登记案件 / your role may not register cases")
    duplicates = []
    if request.method == "POST":
        form = forms.IntakeForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            merge_into = data.get("merge_into")
            if not data.get("confirm") and not merge_into:
                duplicates = selectors.duplicates(
                    category=data["category"], location=data["location"], user=request.user
                )
            if not duplicates:
                original = None
                if merge_into:
                    original = (
                        selectors.cases_visible_to(request.user)
                        .filter(pk=merge_into, status__in=OPEN_STATUSES)
                        .first()
                    )
                    if original is None:
                        form.add_error(
                            None,
                            _("The original case to merge into does not exist or is resolved"),
                        )
                if not form.errors:
                    try:
                        case = _register(request, data, original)
                    except services.CaseError as exc:
                        form.add_error(None, _in_language(exc.message))
                    else:
                        return redirect("cases:detail", pk=case.pk)
            elif data.get("attachments"):
                messages.warning(
                    request,
                    _("Possible duplicates found; choose the attachments again to confirm."),
                )
    else:
        form = forms.IntakeForm(user=request.user, initial=_intake_defaults(request))
    return render(
        request,
        "cases/case_new.html",
        {
            "form": form,
            "duplicates": duplicates,
            "map_center": maps_center(),
            "grids": _grid_outlines(request.user),
        },
    )


def _intake_defaults(request):
    initial = {}
    if request.user.role == Role.GRID_WORKER:
        initial["source"] = "patrol"
    return initial


def _grid_outlines(user, limit=2000):
    """Return the GeoJSON of the user's grids for the intake map (none if too many)."""
    from layers.models import Grid
    from layers.sql import area_feature_collection

    ids = list(scope(user, Grid.objects.current()).values_list("pk", flat=True)[: limit + 1])
    if not ids or len(ids) > limit:
        return None
    return area_feature_collection("grid", ids=ids)


def maps_center():
    """Return [lat, lon] of the middle of the district, for the intake map."""
    from layers.models import District

    district = District.objects.first()
    if district is None:
        return [24.99, 102.63]
    c = district.geom.centroid
    return [round(c.y, 6), round(c.x, 6)]


def _register(request, data, original):
    from django.db import transaction

    with transaction.atomic():
        case, _created = services.case_register(
            source=data["source"],
            category=data["category"],
            description=data["description"],
            location=data["location"],
            by=request.user,
            urgency=data["urgency"],
            title=data.get("title") or "",
            address=data.get("address") or "",
            rental_house=data.get("rental_house"),
            visitors=data.get("visitors") or 1,
            parties=data["parties"],
            attachments=data.get("attachments") or [],
        )
        if original is not None:
            services.case_merge(case=case, into=original, by=request.user)
            messages.success(
                request,
                _("Registered %(number)s and merged it into the original case %(original)s.")
                % {"number": case.number, "original": original.number},
            )
            return original
        # Offered only to roles that may dispatch (the form refuses it from any other).
        if data.get("auto_dispatch"):
            services.case_accept(case=case, by=request.user, auto_dispatch=True)
    if case.grid_id is None:
        messages.warning(
            request,
            _(
                "Registered %(number)s: the location is outside every grid, so the case waits "
                "in the not-in-a-grid queue."
            )
            % {"number": case.number},
        )
    else:
        messages.success(
            request,
            _("Registered %(number)s in grid %(grid)s.")
            % {"number": case.number, "grid": case.grid.name},
        )
    return case


@login_required
@require_GET
def places(request):
    """Return rental houses matching an address or code (for the intake picker), as JSON."""
    from layers.models import RentalHouse

    q = (request.GET.get("q") or "").strip()[:50]
    if len(q) < 2:
        return JsonResponse({"results": []})
    houses = (
        scope(request.user, RentalHouse.objects.all())
        .filter(Q(code__icontains=q) | Q(address__icontains=q))
        .order_by("code")[:20]
    )
    return JsonResponse(
        {
            "results": [
                {"code": h.code, "address": h.address, "lon": h.location.x, "lat": h.location.y}
                for h in houses
            ]
        }
    )


# --- one case ----------------------------------------------------------------------------


@login_required
@require_GET
def case_detail(request, pk):
    """Show a case: facts, parties (masked), handlers, trail, files, letters, actions."""
    case = _visible_case(request, pk)
    actions = selectors.actions_for(request.user, case)
    action_forms = [
        (
            a,
            _action_label(a),
            forms.action_form(a, initial={"version": case.version}, case=case),
        )
        for a in actions
    ]
    desk = has_role(request.user, *DESK_ROLES)
    context = {
        "case": case,
        "parties": case.parties.all(),
        "assignments": case.assignments.select_related("worker", "unit").order_by(
            "-active", "-role", "at"
        ),
        "events": case.events.select_related("actor"),
        "attachments": case.attachments.all(),
        "callbacks": case.callbacks.all(),
        "consultations": case.consultations.prefetch_related("experts"),
        "letters": case.reminders.filter(kind=Reminder.Kind.LETTER),
        "merged_reports": case.merged_reports.all(),
        "action_forms": action_forms,
        "note_form": forms.AddNoteForm()
        if selectors.user_may(request.user, "note", case)
        else None,
        "can_flag": desk and case.status in OPEN_STATUSES and not case.difficult,
        "consult_form": forms.ConsultationForm()
        if desk and case.difficult and case.status in OPEN_STATUSES
        else None,
        "opinion_form": forms.OpinionForm() if desk else None,
        "status_names": services.STATUS_NAMES,
        "level_names": services.LEVEL_NAMES,
        "now": timezone.now(),
    }
    return render(request, "cases/case_detail.html", context)


@login_required
@require_POST
def case_action(request, pk, action):
    """Take one workflow action on a case, then go back to it."""
    if action not in services.ACTION_FUNCTIONS:
        raise Http404("未知操作 / unknown action")
    case = _visible_case(request, pk)
    refusal = selectors.action_refusal(request.user, action, case)
    if refusal is not None:
        raise PermissionDenied(refusal.message)
    form = forms.action_form(action, request.POST, case=case)
    back = request.POST.get("next") or reverse("cases:detail", args=[case.pk])
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("cases:detail", args=[case.pk])
    if not form.is_valid():
        messages.error(
            request,
            _("%(action)s failed: %(errors)s")
            % {"action": _action_label(action), "errors": _joined_errors(form)},
        )
        return redirect(back)
    data = form.cleaned_data
    kwargs = {"version": data["version"]}
    if action in ("refuse", "return"):
        kwargs["reason"] = data["reason"]
    else:
        kwargs["note"] = data.get("note", "")
    if action == "callback":
        kwargs["rating"] = data["rating"]
    if action == "dispatch":
        kwargs["handler"] = data.get("handler")
    try:
        if action == "merge":
            into = (
                selectors.cases_visible_to(request.user).filter(number=data["into"].strip()).first()
            )
            if into is None:
                raise services.CaseError("原案件不存在 / no such original case")
            kwargs["into"] = into
        services.ACTION_FUNCTIONS[action](case=case, by=request.user, **kwargs)
    except services.CaseError as exc:
        messages.error(request, _in_language(exc.message))
    else:
        messages.success(
            request,
            _("%(action)s done: %(number)s")
            % {"action": _action_label(action), "number": case.number},
        )
    return redirect(back)


@login_required
@require_POST
def case_note(request, pk):
    """Add a note and photos to a case."""
    case = _visible_case(request, pk)
    if not selectors.user_may(request.user, "note", case):
        raise PermissionDenied("您无权添加备注 / you may not add notes here")
    form = forms.AddNoteForm(request.POST, request.FILES)
    back = request.POST.get("next") or reverse("cases:detail", args=[case.pk])
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("cases:detail", args=[case.pk])
    if not form.is_valid():
        messages.error(request, _("Could not add: %(errors)s") % {"errors": _joined_errors(form)})
        return redirect(back)
    try:
        services.case_add_note(
            case=case,
            by=request.user,
            note=form.cleaned_data["note"],
            attachments=form.cleaned_data["photos"],
        )
    except services.CaseError as exc:
        messages.error(request, _in_language(exc.message))
    else:
        messages.success(request, _("Added"))
    return redirect(back)


def _desk_case(request, pk):
    case = _visible_case(request, pk)
    if not has_role(request.user, *DESK_ROLES):
        raise PermissionDenied("您的角色不能执行此操作 / your role may not do this")
    return case


@login_required
@require_POST
def case_flag_difficult(request, pk):
    case = _desk_case(request, pk)
    try:
        services.case_flag_difficult(
            case=case, by=request.user, note=request.POST.get("note", "")[:2000]
        )
    except services.CaseError as exc:
        messages.error(request, _in_language(exc.message))
    else:
        messages.success(request, _("Flagged as a difficult dispute"))
    return redirect("cases:detail", pk=case.pk)


@login_required
@require_POST
def case_consult(request, pk):
    case = _desk_case(request, pk)
    form = forms.ConsultationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the experts for the consultation"))
        return redirect("cases:detail", pk=case.pk)
    try:
        services.consultation_convene(
            case=case,
            by=request.user,
            experts=form.cleaned_data["experts"],
            note=form.cleaned_data["note"],
        )
    except services.CaseError as exc:
        messages.error(request, _in_language(exc.message))
    else:
        messages.success(request, _("Legal expert consultation requested"))
    return redirect("cases:detail", pk=case.pk)


@login_required
@require_POST
def consultation_opinion(request, pk):
    consultation = get_object_or_404(Consultation, pk=pk)
    case = _desk_case(request, consultation.case_id)
    form = forms.OpinionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Fill in the consultation opinion"))
    else:
        services.consultation_record_opinion(
            consultation=consultation, by=request.user, opinion=form.cleaned_data["opinion"]
        )
        messages.success(request, _("Consultation opinion recorded"))
    return redirect("cases:detail", pk=case.pk)


@login_required
@require_GET
def attachment_file(request, pk):
    """Send an attachment of a case the user may see."""
    attachment = get_object_or_404(Attachment, pk=pk)
    _visible_case(request, attachment.case_id)
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("文件不存在 / file not found") from None
    response = FileResponse(handle, content_type=attachment.content_type)
    response["Content-Disposition"] = "inline"
    return response


@login_required
@require_GET
def letter_pdf(request, pk):
    """Send a reminder letter (提醒函) as a printable PDF."""
    from cases.letters import FontMissing, reminder_letter_pdf

    reminder = get_object_or_404(Reminder, pk=pk, kind=Reminder.Kind.LETTER)
    _visible_case(request, reminder.case_id)
    try:
        pdf = reminder_letter_pdf(reminder)
    except FontMissing as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="reminder-{reminder.pk}.pdf"'
    return response


@login_required
def notifications(request):
    """The user's in-app reminders; POST marks them read."""
    if request.method == "POST":
        services.notification_mark_read(user=request.user)
        return redirect("cases:notifications")
    items = selectors.notifications_for(request.user)[:200]
    return render(request, "cases/notifications.html", {"items": items})


# --- the grid worker's phone page --------------------------------------------------------


@login_required
@require_GET
def mobile(request):
    """The grid worker's own cases on a phone-sized page, most urgent first."""
    cases = (
        selectors.assigned_to(request.user, selectors.cases_visible_to(request.user))
        .filter(status__in=OPEN_STATUSES)
        .select_related("category", "grid")
        .order_by("deadline", "pk")
    )
    unread = selectors.notifications_for(request.user, unread_only=True).count()
    return render(
        request,
        "cases/mobile_list.html",
        {
            "cases": cases,
            "now": timezone.now(),
            "unread": unread,
            "status_names": services.STATUS_NAMES,
        },
    )


@login_required
@require_GET
def mobile_case(request, pk):
    case = _visible_case(request, pk)
    actions = [
        a for a in selectors.actions_for(request.user, case) if a in ("start", "resolve", "return")
    ]
    return render(
        request,
        "cases/mobile_case.html",
        {
            "case": case,
            "actions": [(a, _action_label(a)) for a in actions],
            "events": case.events.select_related("actor"),
            "attachments": case.attachments.all(),
            "can_note": selectors.user_may(request.user, "note", case),
            "now": timezone.now(),
            "status_names": services.STATUS_NAMES,
        },
    )
