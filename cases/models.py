"""Cases: incidents, petitions and disputes, pinned to grids, and their trail."""

from django.conf import settings
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

from layers.models import InGrid


class Category(models.Model):
    """A case category (事项类别) with its time limit, configurable in admin."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=80, blank=True)
    limit_working_days = models.PositiveIntegerField(_("time limit (working days)"), default=5)
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["order", "code"]

    def __str__(self):
        return self.name


class Source(models.TextChoices):
    POLICE_110 = "police_110", _("110 non-police diversion")
    PETITION = "petition", _("Petition (visit or letter)")
    DISPUTE = "dispute", _("Dispute")
    PATROL = "patrol", _("Grid-worker patrol")
    HOTLINE_12345 = "hotline_12345", _("12345 hotline")
    SELF_SERVICE = "self_service", _("Resident self-service")


class Status(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    ACCEPTED = "accepted", _("Accepted")
    REFUSED = "refused", _("Refused")
    DISPATCHED = "dispatched", _("Dispatched")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    VERIFIED = "verified", _("Verified")
    CALLED_BACK = "called_back", _("Called back")
    CLOSED = "closed", _("Closed")
    MERGED = "merged", _("Merged into another case")


OPEN_STATUSES = (
    Status.REGISTERED,
    Status.ACCEPTED,
    Status.DISPATCHED,
    Status.IN_PROGRESS,
    Status.RESOLVED,
    Status.VERIFIED,
    Status.CALLED_BACK,
)


class Level(models.TextChoices):
    GRID = "grid", _("Grid")
    COMMUNITY = "community", _("Community")
    STREET = "street", _("Street")
    DISTRICT = "district", _("District")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")
    CRITICAL = "critical", _("Critical")


class Case(InGrid):
    """A matter brought to the centre: one row per matter (件)."""

    number = models.CharField(_("case number"), max_length=24, unique=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="cases"
    )
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    title = models.CharField(_("title"), max_length=120, blank=True)
    description = models.TextField(_("description"))
    address = models.CharField(_("address"), max_length=200, blank=True)
    visitors = models.PositiveIntegerField(_("person-visits (人次)"), default=1)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.REGISTERED
    )
    level = models.CharField(_("handling level"), max_length=10, choices=Level.choices)
    resolved_level = models.CharField(
        _("level that resolved it"), max_length=10, choices=Level.choices, blank=True
    )
    difficult = models.BooleanField(_("difficult dispute (疑难)"), default=False)
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    reported_at = models.DateTimeField(_("reported at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_reports",
    )
    idempotency_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("registered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Optimistic concurrency: every state change bumps it, and a stale writer loses.
    version = models.PositiveIntegerField(default=1)
    rental_house = models.ForeignKey(
        "layers.RentalHouse",
        verbose_name=_("rental house"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )
    # The running stage: the current level's own period. Empty means it started at
    # reported_at and ends at the deadline (rows written in bulk by the demo generator).
    stage_started_at = models.DateTimeField(_("stage started at"), null=True, blank=True)
    stage_deadline = models.DateTimeField(_("stage deadline"), null=True, blank=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["source", "reported_at"]),
            models.Index(fields=["category", "reported_at"]),
        ]

    def __str__(self):
        return self.number


class CaseEvent(models.Model):
    """One step of a case's workflow: who, when, from which state to which, and why."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=20)
    from_status = models.CharField(_("from"), max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["at", "id"]

    # Steps recorded beside the workflow actions (cases.services.ACTION_NAMES).
    OTHER_NAMES = {
        "note": ("备注", "note"),
        "flag_difficult": ("标记疑难", "flagged as difficult"),
        "merged_report": ("合并来件", "report merged in"),
        "consult": ("会商", "consultation"),
        "opinion": ("专家意见", "expert opinion"),
    }

    @property
    def action_label(self):
        """Return the step's name in the user's language (受理 / accept)."""
        from django.utils.translation import get_language

        from cases.services import ACTION_NAMES

        zh, en = {**ACTION_NAMES, **self.OTHER_NAMES}.get(self.action, (self.action,) * 2)
        return zh if (get_language() or settings.LANGUAGE_CODE).startswith("zh") else en


class Callback(models.Model):
    """A callback to the resident (回访) with his satisfaction."""

    class Rating(models.TextChoices):
        SATISFIED = "satisfied", _("Satisfied")
        BASICALLY = "basically", _("Basically satisfied")
        UNSATISFIED = "unsatisfied", _("Unsatisfied")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="callbacks")
    rating = models.CharField(_("rating"), max_length=12, choices=Rating.choices)
    note = models.TextField(_("note"), blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("callback")
        verbose_name_plural = _("callbacks")
        ordering = ["at"]


LEVEL_ORDER = (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT)


class TimeUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("Working days")
    WORKING_HOURS = "working_hours", _("Office hours")


class TimeLimit(models.Model):
    """The time limit of a category for one urgency (办理时限), in working days or hours."""

    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="limits"
    )
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    amount = models.PositiveIntegerField(_("amount"))
    unit = models.CharField(
        _("unit"), max_length=16, choices=TimeUnit.choices, default=TimeUnit.WORKING_DAYS
    )

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [
            models.UniqueConstraint(fields=["category", "urgency"], name="time_limit_unique"),
        ]

    def __str__(self):
        return (
            f"{self.category} {self.get_urgency_display()}: {self.amount} {self.get_unit_display()}"
        )


class WorkCalendarDay(models.Model):
    """A day that breaks the Monday–Friday rule: a holiday, or a make-up working day (调休)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Holiday (day off)")
        MAKEUP = "makeup", _("Make-up working day")

    day = models.DateField(_("day"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    festival = models.CharField(_("festival"), max_length=20, blank=True)
    provisional = models.BooleanField(_("provisional"), default=False)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("working-day calendar")
        ordering = ["day"]

    def __str__(self):
        return f"{self.day} {self.get_kind_display()} {self.festival}"


class HandlerKind(models.TextChoices):
    GRID_WORKER = "grid_worker", _("Worker of the case's grid")
    COMMUNITY_MEDIATION = "community_mediation", _("Community mediation committee")
    STREET_CENTRE = "street_centre", _("Street centre")
    DEPARTMENT = "department", _("District department")


class HandlerRole(models.TextChoices):
    LEAD = "lead", _("Lead (主办)")
    ASSIST = "assist", _("Assisting (协办)")


class HandlerUnit(models.Model):
    """A unit that handles cases: a mediation committee, a street centre, a department."""

    kind = models.CharField(_("kind"), max_length=24, choices=HandlerKind.choices)
    name = models.CharField(_("name"), max_length=80)
    # For departments: the code in accounts.User.department of the unit's handlers.
    department = models.SlugField(_("department code"), max_length=40, blank=True)
    street = models.ForeignKey(
        "layers.Street", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    community = models.ForeignKey(
        "layers.Community", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("handling unit")
        verbose_name_plural = _("handling units")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "community"],
                condition=models.Q(kind="community_mediation"),
                name="one_mediation_committee_per_community",
            ),
            models.UniqueConstraint(
                fields=["kind", "street"],
                condition=models.Q(kind="street_centre"),
                name="one_centre_per_street",
            ),
            models.UniqueConstraint(
                fields=["department"],
                condition=models.Q(kind="department"),
                name="one_unit_per_department",
            ),
        ]

    def __str__(self):
        return self.name


class RoutingRule(models.Model):
    """Category × level × area → handler: who gets a case (分流交办规则).

    Empty category or area means "any". Of the matching rules the most specific one per
    role wins (area, then category); every matching assisting rule adds an assisting unit.
    """

    category = models.ForeignKey(
        Category, verbose_name=_("category"), null=True, blank=True, on_delete=models.CASCADE
    )
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    street = models.ForeignKey(
        "layers.Street",
        verbose_name=_("street"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    community = models.ForeignKey(
        "layers.Community",
        verbose_name=_("community"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    handler_kind = models.CharField(_("handler"), max_length=24, choices=HandlerKind.choices)
    unit = models.ForeignKey(
        HandlerUnit,
        verbose_name=_("unit (departments)"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
    )
    role = models.CharField(
        _("role"), max_length=10, choices=HandlerRole.choices, default=HandlerRole.LEAD
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["level", "category", "role"]

    def __str__(self):
        handler = self.get_handler_kind_display()
        return f"{self.category or '*'} / {self.get_level_display()} → {handler}"


class Assignment(models.Model):
    """A handler of a case, as lead or assisting; inactive once reassigned or escalated."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    role = models.CharField(_("role"), max_length=10, choices=HandlerRole.choices)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    worker = models.ForeignKey(
        "layers.GridWorker",
        verbose_name=_("grid worker"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    unit = models.ForeignKey(
        HandlerUnit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    active = models.BooleanField(_("active"), default=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["-active", "role", "at"]
        indexes = [
            models.Index(fields=["worker", "active"]),
            models.Index(fields=["unit", "active"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(worker__isnull=False) ^ models.Q(unit__isnull=False),
                name="assignment_worker_xor_unit",
            ),
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(active=True, role="lead"),
                name="one_active_lead_per_case",
            ),
        ]

    @property
    def handler_name(self):
        return self.worker.name if self.worker_id else self.unit.name

    def __str__(self):
        return f"{self.handler_name} ({self.get_role_display()})"


class Party(models.Model):
    """A party to a case; phone and ID number stored like Person's (gridmap/pii.py)."""

    class Role(models.TextChoices):
        APPLICANT = "applicant", _("Applicant")
        RESPONDENT = "respondent", _("Respondent")
        OTHER = "other", _("Other party")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="parties")
    role = models.CharField(_("role"), max_length=12, choices=Role.choices, default=Role.APPLICANT)
    name = models.CharField(_("name"), max_length=50)
    phone_cipher = models.BinaryField(_("phone (encrypted)"), null=True)
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True)
    id_number_cipher = models.BinaryField(_("ID number (encrypted)"), null=True)
    id_number_digest = models.CharField(max_length=64, blank=True, db_index=True)
    id_number_masked = models.CharField(_("ID number"), max_length=18, blank=True)

    class Meta:
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        ordering = ["id"]

    @property
    def name_masked(self):
        from gridmap.pii import mask_name

        return mask_name(self.name)

    def __str__(self):
        return self.name_masked


def attachment_path(instance, filename):
    return f"cases/{instance.case_id}/{filename}"


class Attachment(models.Model):
    """A photo or document attached to a case (type- and size-checked on upload)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=attachment_path)
    name = models.CharField(_("name"), max_length=120)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["at", "id"]

    def __str__(self):
        return self.name


class LegalExpert(models.Model):
    """A member of the legal expert team (法律专家库)."""

    class Kind(models.TextChoices):
        LAWYER = "lawyer", _("Lawyer")
        ADVISER = "adviser", _("Legal adviser")
        JUDGE = "judge", _("Judge")
        PROSECUTOR = "prosecutor", _("Prosecutor")

    name = models.CharField(_("name"), max_length=50)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    organisation = models.CharField(_("organisation"), max_length=100, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("legal expert")
        verbose_name_plural = _("legal expert team")
        ordering = ["kind", "name"]

    def __str__(self):
        return f"{self.name}（{self.get_kind_display()}）"


class Consultation(models.Model):
    """A consultation of the legal expert team on a difficult dispute (疑难矛盾纠纷会商)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="consultations")
    experts = models.ManyToManyField(LegalExpert, verbose_name=_("experts"), blank=True)
    convened_at = models.DateTimeField(_("convened at"))
    convened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opinion = models.TextField(_("opinion"), blank=True)
    opinion_at = models.DateTimeField(_("opinion recorded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("legal consultation")
        verbose_name_plural = _("legal consultations")
        ordering = ["convened_at"]


class Reminder(models.Model):
    """What the time-limit job has done for a case and a deadline: sent at most once.

    The unique (case, kind, deadline) row is claimed with INSERT … ON CONFLICT DO NOTHING
    before anything is sent, so two runs, or two machines, never send the same thing twice.
    """

    class Kind(models.TextChoices):
        # xgettext:no-python-format
        DUE_SOON = "due_soon", _("75 % reminder")
        LETTER = "letter", _("Reminder letter (提醒函)")
        ESCALATION = "escalation", _("Escalation")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    deadline = models.DateTimeField(_("deadline"))
    created_at = models.DateTimeField(_("at"))
    unit_name = models.CharField(_("addressed to"), max_length=80, blank=True)
    number = models.CharField(_("letter number"), max_length=40, blank=True)
    pdf = models.FileField(_("letter (PDF)"), upload_to="letters/", blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "deadline"], name="reminder_once_per_deadline"
            ),
        ]


class Notification(models.Model):
    """An in-app message to a user (站内提醒)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    reminder = models.ForeignKey(Reminder, null=True, blank=True, on_delete=models.CASCADE)
    message = models.CharField(_("message"), max_length=300)
    created_at = models.DateTimeField(_("at"))
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "reminder"],
                condition=models.Q(reminder__isnull=False),
                name="notification_once_per_reminder",
            ),
        ]
