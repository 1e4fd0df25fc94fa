from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    DISTRICT = "district", _("District command centre")
    STREET = "street", _("Street centre")
    COMMUNITY = "community", _("Community centre")
    GRID_WORKER = "grid_worker", _("Grid worker")
    INTAKE = "intake", _("Intake clerk")
    DEPARTMENT = "department", _("Department handler")
    ANALYST = "analyst", _("Analyst")
    ADMIN = "admin", _("System administrator")


class User(AbstractUser):
    """A staff member of one of the centres, acting within one area.

    The area is the most specific of district, street and community that is set; a grid
    worker's area is the set of grids of his territory (layers.GridWorker).
    """

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.INTAKE)
    district = models.ForeignKey(
        "layers.District",
        verbose_name=_("district"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    street = models.ForeignKey(
        "layers.Street",
        verbose_name=_("street"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    community = models.ForeignKey(
        "layers.Community",
        verbose_name=_("community"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    department = models.CharField(_("department"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="department") | ~Q(department=""),
                name="department_handler_has_department",
            ),
        ]

    def __str__(self):
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username


# Roles that may reveal one record's personal data, within their own area, after giving a
# reason. Analysts, intake clerks, department handlers and the system administrator work
# with masked data only: none of their tasks needs a full ID number.
REVEAL_ROLES = frozenset({Role.DISTRICT, Role.STREET, Role.COMMUNITY, Role.GRID_WORKER})
# Roles that may search the audit log.
AUDIT_READER_ROLES = frozenset({Role.DISTRICT, Role.ADMIN})


class AuditQuerySet(models.QuerySet):
    """Reads of the audit log; bulk changes are refused (the trigger refuses them too)."""

    def update(self, **kwargs):
        raise PermissionError("the audit log is append-only")

    def delete(self):
        raise PermissionError("the audit log is append-only")


class AuditEntry(models.Model):
    """One look at personal data or one export: who, when, what, why and from where.

    Append-only: the model refuses updates and deletes, and a PostgreSQL trigger
    (migration 0003) refuses UPDATE, DELETE and TRUNCATE whatever the client.
    """

    class Action(models.TextChoices):
        REVEAL = "reveal", _("Reveal personal data")
        EXPORT = "export", _("Export")
        TOKEN = "token", _("API token issued, changed, revoked or deleted")
        BULK_READ = "bulk_read", _("Bulk read of personal data")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        "accounts.User",
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Kept as written at the time, so that renaming the account does not rewrite history.
    username = models.CharField(_("user name"), max_length=150)
    role = models.CharField(_("role"), max_length=20, blank=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    model = models.CharField(_("record type"), max_length=60, blank=True)
    object_pk = models.CharField(_("record id"), max_length=40, blank=True)
    field = models.CharField(_("field"), max_length=60, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    path = models.CharField(_("request path"), max_length=300, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["user", "at"]),
            models.Index(fields=["model", "object_pk"]),
        ]

    def __str__(self):
        return (
            f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.model}#{self.object_pk}"
        )

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit log is append-only")


class LoginThrottle(models.Model):
    """Failed log-ins per user name and client address; a lock after too many."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("login throttle")
        verbose_name_plural = _("login throttles")
        constraints = [
            models.UniqueConstraint(
                fields=["username", "ip"], name="login_throttle_username_ip_unique"
            ),
        ]

    def __str__(self):
        return f"{self.username}@{self.ip}: {self.failures}"


class ApiTokenQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if {"user", "user_id"} & kwargs.keys():
            raise PermissionError(ApiToken.OWNER_IMMUTABLE)
        if "revoked_at" in kwargs and kwargs["revoked_at"] is None:
            raise PermissionError(ApiToken.REVOCATION_FINAL)
        return super().update(**kwargs)


class ApiToken(models.Model):
    """A token for an external system (e.g. the 12345 hotline), with its own scopes.

    Only a SHA-256 hash of the token is stored; the token is shown once when issued.
    The token acts as its service account (`user`), so the account's role and area bound
    every row it reaches; `scopes` bound which endpoints it may call at all.

    The service account never changes after issue and a revocation is final: a token
    handed to another account, or brought back to life, would act with authority nobody
    granted it. The model refuses both, and so does a trigger (migration 0004).
    """

    OWNER_IMMUTABLE = (
        "接口令牌签发后不能更换服务账号 / an API token's service account cannot change"
    )
    REVOCATION_FINAL = "已吊销的接口令牌不能恢复 / a revoked API token stays revoked"

    SCOPES = [
        ("cases:create", _("Create cases")),
        ("cases:read", _("Read cases")),
        ("cases:update", _("Update cases")),
        ("layers:read", _("Read map layers")),
    ]

    name = models.CharField(_("name"), max_length=80)
    user = models.ForeignKey(
        "accounts.User",
        verbose_name=_("service account"),
        on_delete=models.PROTECT,
        related_name="api_tokens",
    )
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def save(self, *args, **kwargs):
        stored = getattr(self, "_stored", {})
        if "user_id" in stored and self.user_id != stored["user_id"]:
            raise PermissionError(self.OWNER_IMMUTABLE)
        if stored.get("revoked_at") is not None and self.revoked_at != stored["revoked_at"]:
            raise PermissionError(self.REVOCATION_FINAL)
        super().save(*args, **kwargs)
        self._remember_stored()

    def _remember_stored(self):
        # What the row held when read: save() compares against it.
        self._stored = {
            name: getattr(self, name) for name in ("user_id", "revoked_at") if name in self.__dict__
        }

    @classmethod
    def from_db(cls, db, field_names, values):
        token = super().from_db(db, field_names, values)
        token._remember_stored()
        return token

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._remember_stored()

    @property
    def is_valid(self):
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def allows(self, scope):
        return scope in self.scopes
