from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
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
