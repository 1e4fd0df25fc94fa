"""Areas, grids, and the people and houses in them (一标三实).

Every geometry is EPSG:4326 (settings.STORAGE_SRID) and has a GiST index (GeoDjango's
default spatial_index=True). Every point record keeps the grid that contains it, and the
grid's community and street, so that area scoping is a plain indexed filter.
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

SRID = settings.STORAGE_SRID


class District(models.Model):
    """A county-level district (区), coded by GB/T 2260."""

    code = models.CharField(_("code"), max_length=6, unique=True)
    name = models.CharField(_("name"), max_length=50)
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)

    class Meta:
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        ordering = ["code"]

    def __str__(self):
        return self.name


class Street(models.Model):
    """A sub-district office (街道); 9-digit code: district code + 3 digits."""

    district = models.ForeignKey(
        District, verbose_name=_("district"), on_delete=models.PROTECT, related_name="streets"
    )
    code = models.CharField(_("code"), max_length=9, unique=True)
    name = models.CharField(_("name"), max_length=50)
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)

    class Meta:
        verbose_name = _("street")
        verbose_name_plural = _("streets")
        ordering = ["code"]

    def __str__(self):
        return self.name


class Community(models.Model):
    """A community (社区) or village (村); 12-digit code: street code + 3 digits."""

    class Kind(models.TextChoices):
        URBAN = "urban", _("Urban community")
        URBAN_VILLAGE = "urban_village", _("Urban village")
        RURAL = "rural", _("Rural village")

    street = models.ForeignKey(
        Street, verbose_name=_("street"), on_delete=models.PROTECT, related_name="communities"
    )
    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=50)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.URBAN)
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["code"]

    def __str__(self):
        return self.name


class GridQuerySet(models.QuerySet):
    def current(self):
        return self.filter(valid_to__isnull=True)


class Grid(models.Model):
    """A grid (网格), one version of its boundary.

    The code follows the CJ/T 349 layout in 20 digits: 2 object type (10 = comprehensive
    grid) + 6 district + 3 street + 3 community + 6 sequence. A redrawn grid keeps its code;
    the old boundary stays as a row with valid_to set, and only the current row
    (valid_to IS NULL) holds points.
    """

    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, related_name="grids"
    )
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=80)
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)
    version = models.PositiveIntegerField(_("version"), default=1)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True)

    objects = GridQuerySet.as_manager()

    class Meta:
        verbose_name = _("grid")
        verbose_name_plural = _("grids")
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=Q(valid_to__isnull=True), name="grid_current_code_unique"
            ),
            models.UniqueConstraint(fields=["code", "version"], name="grid_code_version_unique"),
            models.CheckConstraint(
                condition=Q(code__regex=r"^[0-9]{20}$"), name="grid_code_20_digits"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"


class GridWorker(models.Model):
    """A grid worker (网格员) and the grids of his territory."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="grid_worker",
    )
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("work phone"), max_length=20, blank=True)
    grids = models.ManyToManyField(Grid, verbose_name=_("grids"), related_name="workers")
    location = models.PointField(_("last known position"), srid=SRID, null=True, blank=True)
    located_at = models.DateTimeField(_("position time"), null=True, blank=True)

    class Meta:
        verbose_name = _("grid worker")
        verbose_name_plural = _("grid workers")
        ordering = ["name"]

    def __str__(self):
        return self.name


def area_key(model, verbose_name, **options):
    """The key of a point record's grid, community or street (InGrid)."""
    return models.ForeignKey(
        model,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        **options,
    )


class InGrid(models.Model):
    """A point record; grid, community and street follow from its location."""

    location = models.PointField(_("location"), srid=SRID)
    grid = area_key(Grid, _("grid"))
    community = area_key(Community, _("community"))
    street = area_key(Street, _("street"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True

    def save(self, *args, assign=True, **kwargs):
        """Save, setting grid, community and street from the location first.

        Skipped when the caller has just assigned them (assign=False) or when only other
        fields are saved (update_fields without location): one spatial lookup less.
        """
        from layers.services import assign_areas

        fields = kwargs.get("update_fields")
        if assign and (fields is None or "location" in fields):
            assign_areas(self)
            if fields is not None:  # a new location moves the record's areas with it
                kwargs["update_fields"] = {*fields, "grid", "community", "street"}
        super().save(*args, **kwargs)


class Compound(InGrid):
    """A residential compound (小区)."""

    name = models.CharField(_("name"), max_length=80)
    households = models.PositiveIntegerField(_("households"), default=0)
    high_rise = models.BooleanField(_("high-rise"), default=False)

    class Meta:
        verbose_name = _("residential compound")
        verbose_name_plural = _("residential compounds")

    def __str__(self):
        return self.name


class Organisation(InGrid):
    """An actual organisation (实有单位): an enterprise, a public institution, a shop."""

    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        INSTITUTION = "institution", _("Public institution")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self):
        return self.name


class RentalHouse(InGrid):
    """A rental house (出租房屋) at one standard address."""

    # The (grid, last_inspected) index below serves lookups by grid: no index of its own
    # (one index less to maintain on every insert and to rebuild after a bulk import).
    grid = area_key(Grid, _("grid"), db_index=False)
    code = models.CharField(_("house code"), max_length=40, unique=True)
    address = models.CharField(_("address"), max_length=200)
    landlord_name = models.CharField(_("landlord"), max_length=50, blank=True)
    landlord_phone_cipher = models.BinaryField(_("landlord phone (encrypted)"), null=True)
    landlord_phone_digest = models.CharField(max_length=64, blank=True)
    landlord_phone_masked = models.CharField(_("landlord phone"), max_length=20, blank=True)
    rooms = models.PositiveIntegerField(_("rooms"), default=1)
    tenant_count = models.PositiveIntegerField(_("tenants"), default=0)
    overcrowded = models.BooleanField(_("overcrowded (群租)"), default=False)
    three_in_one = models.BooleanField(_("living/working/storage mixed (三合一)"), default=False)
    fire_hazard = models.BooleanField(_("fire-safety hazard"), default=False)
    last_inspected = models.DateField(_("last inspected"), null=True, blank=True)
    compound = models.ForeignKey(
        Compound,
        verbose_name=_("compound"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rentals",
    )

    class Meta:
        verbose_name = _("rental house")
        verbose_name_plural = _("rental houses")
        indexes = [
            models.Index(fields=["grid", "last_inspected"]),
            # Digests are only ever matched exactly: a plain btree, no LIKE (_like) twin.
            models.Index(fields=["landlord_phone_digest"], name="rental_landlord_phone_digest"),
        ]

    def __str__(self):
        return self.address


class Person(InGrid):
    """A person of the actual population (实有人口): a registered resident or a migrant.

    ID number and phone are personal data: stored encrypted (…_cipher), found by a keyed
    digest (…_digest), and shown masked (…_masked); see gridmap/pii.py.
    """

    class Kind(models.TextChoices):
        REGISTERED = "registered", _("Registered resident")
        FLOATING = "floating", _("Floating population")

    # The (grid, kind) and (community, kind) indexes below serve lookups by grid and by
    # community: no single-column indexes (two less to maintain and to rebuild).
    grid = area_key(Grid, _("grid"), db_index=False)
    community = area_key(Community, _("community"), db_index=False)
    name = models.CharField(_("name"), max_length=50)
    id_number_cipher = models.BinaryField(_("ID number (encrypted)"))
    id_number_digest = models.CharField(max_length=64)
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    phone_cipher = models.BinaryField(_("phone (encrypted)"), null=True)
    phone_digest = models.CharField(max_length=64, blank=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    household_no = models.CharField(_("household number"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    origin = models.CharField(_("place of origin"), max_length=100, blank=True)
    arrival_date = models.DateField(_("arrival date"), null=True, blank=True)
    residence_permit = models.BooleanField(_("holds residence permit"), default=False)
    registered_with_police = models.BooleanField(_("registered as tenant"), default=True)
    last_verified = models.DateField(_("last verified"), null=True, blank=True)
    rental_house = models.ForeignKey(
        RentalHouse,
        verbose_name=_("rental house"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tenants",
    )
    compound = models.ForeignKey(
        Compound,
        verbose_name=_("compound"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="residents",
    )

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        indexes = [
            models.Index(fields=["grid", "kind"]),
            models.Index(fields=["community", "kind"]),
            # Digests are only ever matched exactly: plain btrees, without the LIKE (_like)
            # twins that unique=True/db_index=True would add (half the index writes).
            models.Index(fields=["phone_digest"], name="person_phone_digest"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["id_number_digest"], name="person_id_number_digest_unique"
            ),
        ]

    def __str__(self):
        from gridmap.pii import mask_name

        return mask_name(self.name)


class ImportJob(models.Model):
    """One import of a file (导入任务): its progress, counts and row-level error report."""

    class Kind(models.TextChoices):
        AREAS = "areas", _("Streets and communities")
        GRIDS = "grids", _("Grids")
        RENTALS = "rentals", _("Rental houses")
        PERSONS = "persons", _("Persons")
        CASES = "cases", _("Cases")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    filename = models.CharField(_("file"), max_length=255)
    path = models.CharField(max_length=500, blank=True)
    crs = models.CharField(_("coordinate system"), max_length=20, blank=True)
    partial = models.BooleanField(_("keep the good rows"), default=False)
    dry_run = models.BooleanField(_("check only"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    # [[row, column, reason], ...], the first ImportReport.MAX_ERRORS of them.
    errors = models.JSONField(_("error report"), default=list, blank=True)
    notes = models.JSONField(_("notes"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.filename}"

    @property
    def percent(self):
        if not self.total_rows:
            return 100 if self.status in (self.Status.DONE, self.Status.FAILED) else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))
