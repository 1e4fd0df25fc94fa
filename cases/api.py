"""REST API of cases: categories, intake (POST /api/v1/cases/), reads and workflow actions.

Thin: parse and validate, authorise, call cases.services, answer. Every error message is
bilingual ("中文 / English").
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.encoding import smart_str
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors, services
from cases.models import (
    Callback,
    Case,
    Category,
    HandlerRole,
    Level,
    Party,
    Source,
    Status,
    TimeUnit,
    Urgency,
)
from gridmap.api import ErrorSerializer
from layers import crs as crs_lib
from layers.api import POINT_PARAMETERS

MESSAGES = {
    "required": "此字段必填 / This field is required.",
    "null": "此字段不能为空 / This field may not be null.",
    "blank": "此字段不能为空 / This field may not be blank.",
    "invalid": "格式不正确 / Invalid value.",
    "invalid_choice": "“{input}”不是有效选项 / “{input}” is not a valid choice.",
    "max_length": "不能超过 {max_length} 个字符 / Ensure this field has no more than "
    "{max_length} characters.",
    "min_value": "不能小于 {min_value} / Ensure this value is at least {min_value}.",
    "max_value": "不能大于 {max_value} / Ensure this value is at most {max_value}.",
    "not_a_list": "应为列表 / Expected a list of items.",
    "does_not_exist": "类别“{value}”不存在 / Category “{value}” does not exist.",
}


def _messages(*keys):
    return {k: MESSAGES[k] for k in keys}


def bilingual(field):
    """Return the field (its messages are made bilingual by BilingualMixin)."""
    return field


class BilingualMixin:
    """Give every field of the serializer bilingual error messages.

    DRF copies declared fields for each serializer instance, so the messages are set on
    the copies here rather than on the declarations.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            for key, message in MESSAGES.items():
                if key in field.error_messages:
                    field.error_messages[key] = message


def _choice_list(choices):
    return ", ".join(choices)


class PartySerializer(BilingualMixin, serializers.Serializer):
    """A party to a new case; phone and ID number are stored encrypted."""

    name = bilingual(serializers.CharField(max_length=50))
    phone = bilingual(serializers.CharField(required=False, allow_blank=True, max_length=30))
    id_number = bilingual(serializers.CharField(required=False, allow_blank=True, max_length=30))
    role = bilingual(
        serializers.ChoiceField(choices=Party.Role.choices, required=False, default="applicant")
    )

    def validate(self, data):
        from gridmap import pii

        try:
            if data.get("phone"):
                pii.validate_phone(data["phone"])
            if data.get("id_number"):
                pii.validate_id_number(data["id_number"])
        except pii.PIIError as exc:
            raise ValidationError(exc.message) from None
        return data


@extend_schema_field(
    {
        "type": "object",
        "description": "GeoJSON 点（WGS84，或用 crs 参数声明的坐标系） / a GeoJSON Point "
        "(WGS84, or the system named by the crs field)",
        "properties": {
            "type": {"type": "string", "enum": ["Point"]},
            "coordinates": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 2,
                "maxItems": 3,
            },
        },
        "required": ["type", "coordinates"],
    }
)
class PointInputField(serializers.JSONField):
    """A JSON value that parse_point reads as a GeoJSON Point (typed for the schema)."""


class ActiveCategoryField(serializers.SlugRelatedField):
    """An active category's code, read with one prepared lookup (every intake names one)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("invalid")
        code = str(data)
        # PostgreSQL text cannot hold NUL: no category has such a code.
        category = None if "\x00" in code else selectors.active_category(code)
        if category is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=smart_str(data))
        return category


class CaseCreateSerializer(BilingualMixin, serializers.Serializer):
    """The body of a new case: a location (GeoJSON Point) or a rental house code."""

    source = bilingual(serializers.ChoiceField(choices=Source.choices))
    category = bilingual(
        ActiveCategoryField(slug_field="code", queryset=Category.objects.filter(active=True))
    )
    description = bilingual(serializers.CharField(max_length=5000))
    location = PointInputField(required=False, error_messages=_messages("required", "invalid"))
    crs = bilingual(
        serializers.CharField(
            required=False,
            default="wgs84",
            max_length=20,
            help_text="location 的坐标系 / coordinate system of location: "
            f"{', '.join(crs_lib.CRS_CHOICES)}",
        )
    )
    rental_house = bilingual(serializers.CharField(required=False, max_length=40))
    urgency = bilingual(
        serializers.ChoiceField(choices=Urgency.choices, required=False, default=Urgency.NORMAL)
    )
    title = bilingual(serializers.CharField(required=False, allow_blank=True, max_length=120))
    address = bilingual(serializers.CharField(required=False, allow_blank=True, max_length=200))
    # The bound and who may count more than one are the intake rule's
    # (selectors.intake_refusal), one rule for the page, this API and Open311.
    visitors = bilingual(
        serializers.IntegerField(
            required=False,
            default=1,
            min_value=1,
            help_text="来访人次：仅信访可多于 1，最多 CASES_MAX_VISITORS（默认 100） / "
            "person-visits: more than 1 for petitions only, at most CASES_MAX_VISITORS "
            "(100 by default)",
        )
    )
    parties = PartySerializer(many=True, required=False)
    auto_dispatch = serializers.BooleanField(
        required=False,
        default=False,
        help_text="登记后立即受理并按规则派遣（仅限可派遣的角色） / accept and dispatch by the "
        "rules at once (only roles that may dispatch)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].error_messages["invalid_choice"] = (
            f"来源“{{input}}”无效，可选：{_choice_list(Source.values)} / "
            f"“{{input}}” is not a valid source; choose one of {_choice_list(Source.values)}"
        )
        self.fields["category"].error_messages["does_not_exist"] = (
            "类别“{value}”不存在，见 /api/v1/categories/ / "
            "category “{value}” does not exist; see /api/v1/categories/"
        )

    def validate_crs(self, value):
        try:
            return crs_lib.parse_crs(value)
        except crs_lib.CRSError as exc:
            raise ValidationError(str(exc)) from None

    def validate_rental_house(self, value):
        from layers.models import RentalHouse

        user = self.context["request"].user
        from accounts.scoping import scope

        house = scope(user, RentalHouse.objects.all()).filter(code=value).first()
        if house is None:
            raise ValidationError(f"出租房屋“{value}”不存在 / rental house “{value}” not found")
        return house

    def validate(self, data):
        location = data.get("location")
        house = data.get("rental_house")
        if location is None and house is None:
            raise ValidationError(
                {
                    "location": "请提供位置（GeoJSON 点）或出租房屋编码 / "
                    "give a location (a GeoJSON Point) or a rental house code"
                }
            )
        if location is not None:
            data["location"] = parse_point(location, data.get("crs", "wgs84"))
        else:
            data["location"] = house.location
        return data


def parse_point(value, crs):
    """Return a storage Point from a GeoJSON Point in the given CRS, or raise ValidationError."""
    problem = {
        "location": '位置应为 GeoJSON 点，如 {"type": "Point", "coordinates": [102.67, '
        '24.98]} / location must be a GeoJSON Point, e.g. {"type": "Point", '
        '"coordinates": [102.67, 24.98]}'
    }
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise ValidationError(problem)
    if "crs" in value:
        # RFC 7946 removed the crs member; honouring or ignoring it would misplace the point.
        choices = ", ".join(crs_lib.CRS_CHOICES)
        raise ValidationError(
            {
                "location": "位置不能带 crs 成员（RFC 7946 已取消）：请发送 WGS84 经纬度，或用 "
                f"crs 参数声明坐标系（{choices}） / location must not carry a crs member "
                "(RFC 7946 removed it): send WGS84 longitude/latitude, or name the coordinate "
                f"system in the crs parameter ({choices})"
            }
        )
    coords = value.get("coordinates")
    if not isinstance(coords, (list, tuple)) or len(coords) not in (2, 3):
        raise ValidationError(problem)
    if any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in coords[:2]):
        raise ValidationError(problem)
    return point_from(coords[0], coords[1], crs)


def point_from(lon, lat, crs):
    """Return a storage Point after converting and checking the coordinates."""
    try:
        return services.to_point(lon, lat, crs)
    except services.CaseError as exc:
        raise ValidationError({"location": exc.message}) from None


# --- answer shapes -----------------------------------------------------------------------
# The views below build some answers as dicts; these serializers describe those shapes in
# the OpenAPI schema (/api/schema/) and are not used to render them.


class GeoJSONPointSerializer(serializers.Serializer):
    """A GeoJSON Point (RFC 7946) in WGS84."""

    type = serializers.ChoiceField(choices=["Point"])
    coordinates = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        help_text="[经度, 纬度]（WGS84，7 位小数） / [longitude, latitude] (WGS84, 7 decimals)",
    )


class CasePartySerializer(serializers.Serializer):
    """A party to a case as the API shows it: always masked."""

    role = serializers.ChoiceField(choices=Party.Role.choices)
    name = serializers.CharField(help_text="已脱敏 / masked")
    phone = serializers.CharField(help_text="已脱敏，未登记时为空 / masked; empty if none")
    id_number = serializers.CharField(help_text="已脱敏，未登记时为空 / masked; empty if none")


class CaseHandlerSerializer(serializers.Serializer):
    """An active handler of a case: a grid worker or a handling unit."""

    name = serializers.CharField(help_text="网格员或承办单位 / grid worker or handling unit")
    role = serializers.ChoiceField(choices=HandlerRole.choices)
    level = serializers.ChoiceField(choices=Level.choices)


class CaseErrorSerializer(ErrorSerializer):
    """A refused workflow action: a bilingual message and a machine-readable code."""

    code = serializers.CharField(
        help_text="原因代码 / reason code, e.g. illegal_action, case_changed, rating, "
        "merge_into, handler, reason_required"
    )


# DRF's own conversion of a date-time (to Asia/Shanghai, ISO 8601), made once.
_DATETIME = serializers.DateTimeField()


class CaseSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="code", read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True)
    # allow_null only documents that these are null outside every grid (or unmerged).
    grid = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    grid_name = serializers.CharField(
        source="grid.name", read_only=True, default=None, allow_null=True
    )
    community = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    street = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    location = serializers.SerializerMethodField()
    merged_into = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    parties = serializers.SerializerMethodField()
    handlers = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "status",
            "source",
            "category",
            "category_name",
            "urgency",
            "title",
            "description",
            "address",
            "visitors",
            "location",
            "grid",
            "grid_name",
            "community",
            "street",
            "level",
            "resolved_level",
            "difficult",
            "reported_at",
            "deadline",
            "resolved_at",
            "closed_at",
            "merged_into",
            "version",
            "parties",
            "handlers",
        ]

    def to_representation(self, case):
        """Return the answer the fields above declare, built directly from the case.

        DRF builds a ModelSerializer's fields anew for every instance, which cost more
        than the rest of a case intake. The fields stay: they are the OpenAPI schema, and
        tests/cases/test_api.py checks this against ModelSerializer.to_representation.
        """
        dt = _DATETIME.to_representation
        category, grid = case.category, case.grid
        community, street, merged = case.community, case.street, case.merged_into
        return {
            "id": case.pk,
            "number": case.number,
            "status": case.status,
            "source": case.source,
            "category": category.code,
            "category_name": category.name,
            "urgency": case.urgency,
            "title": case.title,
            "description": case.description,
            "address": case.address,
            "visitors": case.visitors,
            "location": self.get_location(case),
            "grid": grid.code if grid is not None else None,
            "grid_name": grid.name if grid is not None else None,
            "community": community.code if community is not None else None,
            "street": street.code if street is not None else None,
            "level": case.level,
            "resolved_level": case.resolved_level,
            "difficult": case.difficult,
            "reported_at": dt(case.reported_at),
            "deadline": dt(case.deadline),
            "resolved_at": dt(case.resolved_at),
            "closed_at": dt(case.closed_at),
            "merged_into": merged.number if merged is not None else None,
            "version": case.version,
            "parties": self.get_parties(case),
            "handlers": self.get_handlers(case),
        }

    @extend_schema_field(GeoJSONPointSerializer)
    def get_location(self, case):
        return {
            "type": "Point",
            "coordinates": [round(case.location.x, 7), round(case.location.y, 7)],
        }

    @extend_schema_field(CasePartySerializer(many=True))
    def get_parties(self, case):
        if self.context.get("without_parties"):
            return []  # registered by this request, which named no party
        # Masked always: the API never reveals personal data.
        return [
            {
                "role": p.role,
                "name": p.name_masked,
                "phone": p.phone_masked,
                "id_number": p.id_number_masked,
            }
            for p in case.parties.all()
        ]

    @extend_schema_field(CaseHandlerSerializer(many=True))
    def get_handlers(self, case):
        if self.context.get("just_registered"):
            return []  # a case registered by this request has no handler yet
        return [
            {"name": a.handler_name, "role": a.role, "level": a.level}
            for a in case.assignments.filter(active=True).select_related("worker", "unit")
        ]


class TimeLimitSerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    unit = serializers.ChoiceField(choices=TimeUnit.choices)


class TimeLimitsByUrgencySerializer(serializers.Serializer):
    """The time limit of each urgency (cases.selectors.time_limit, with its fall-backs)."""

    def get_fields(self):
        return {urgency: TimeLimitSerializer() for urgency in Urgency.values}


class CategorySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="登记时使用 / use it to register a case")
    name = serializers.CharField(help_text="中文名称 / Chinese name")
    name_en = serializers.CharField(help_text="英文名称，可能为空 / English name, may be empty")
    time_limit_working_days = serializers.IntegerField(
        help_text="默认办理时限（工作日） / default time limit (working days)"
    )
    time_limits = TimeLimitsByUrgencySerializer()


def _limits(category):
    out = {}
    for urgency in Urgency.values:
        limit = selectors.time_limit(category, urgency)
        out[urgency] = {"amount": limit.amount, "unit": limit.unit}
    return out


class CategoryList(APIView):
    """List the case categories with their code, Chinese name and time limit."""

    token_scopes = {"GET": "cases:read"}

    @extend_schema(
        summary="事项类别 / Case categories",
        responses={200: CategorySerializer(many=True), 403: ErrorSerializer},
    )
    def get(self, request):
        data = [
            {
                "code": c.code,
                "name": c.name,
                "name_en": c.name_en,
                "time_limit_working_days": c.limit_working_days,
                "time_limits": _limits(c),
            }
            for c in Category.objects.filter(active=True).prefetch_related("limits")
        ]
        return Response(data)


# The 400 answer of an intake: field errors of CaseCreateSerializer ({field: [message, …]};
# parties: {index: {field: [message, …]}} or {non_field_errors: […]}), a refused
# registration or a malformed body (detail), or a too-long Idempotency-Key.
CREATE_ERRORS_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "错误信息 / error message"},
        "Idempotency-Key": {"type": "string", "description": "幂等键过长 / key too long"},
        "parties": {
            "type": "object",
            "description": "当事人错误：按序号的字段错误，或 non_field_errors / party errors: "
            'field errors by index ({"0": {"name": [...]}}), or non_field_errors',
            "additionalProperties": {
                "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
    },
    "additionalProperties": {
        "type": "array",
        "items": {"type": "string"},
        "description": "字段错误 / errors of a body field",
    },
}


class CaseListCreate(generics.ListAPIView):
    """List the cases you may see; register a case (POST, with optional Idempotency-Key)."""

    token_scopes = {"GET": "cases:read", "POST": "cases:create"}
    bulk_read = "cases"  # parties and petitions: audited, rate-limited (accounts/bulk_reads.py)
    serializer_class = CaseSerializer

    def get_queryset(self):
        qs = selectors.cases_visible_to(self.request.user).select_related(
            "category", "grid", "community", "street", "merged_into"
        )
        status_ = self.request.query_params.get("status")
        if status_:
            # PostgreSQL text cannot hold NUL: such a status matches no case.
            qs = qs.none() if "\x00" in status_ else qs.filter(status=status_)
        return qs.order_by("-reported_at", "-id")

    @extend_schema(
        summary="登记案件 / Register a case",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="可选，最多 80 个字符：同一键重发时返回原案件（200） / optional, "
                "at most 80 characters: a retry with the same key answers the first case (200)",
            )
        ],
        request=CaseCreateSerializer,
        responses={
            201: OpenApiResponse(CaseSerializer, description="已登记 / registered"),
            200: OpenApiResponse(
                CaseSerializer,
                description="重发：同一幂等键的原案件（Idempotent-Replayed: true）；案件已不在"
                "您的辖区时只有回执 {id, number} / a retry: the case of the same Idempotency-Key "
                "(Idempotent-Replayed: true); only the receipt {id, number} once the case has "
                "left your area",
            ),
            400: OpenApiResponse(CREATE_ERRORS_SCHEMA, description="输入无效 / invalid input"),
            403: OpenApiResponse(
                ErrorSerializer,
                description="您的角色不能登记案件、此来源或立即派遣 / your role may not register, "
                "register this source, or dispatch at once",
            ),
            409: OpenApiResponse(
                {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
                    "required": ["detail", "code"],
                },
                description="幂等键已被其他客户端使用 / the Idempotency-Key belongs to another "
                "client's case",
            ),
        },
    )
    def post(self, request):
        if not selectors.may_register(request.user):
            raise PermissionDenied("您的角色不能登记案件 / your role may not register cases")
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if len(key) > 80:
            raise ValidationError(
                {
                    "Idempotency-Key": "幂等键不能超过80个字符 / "
                    "Idempotency-Key must be at most 80 characters"
                }
            )
        # A retry with the same key gets the first attempt's case back, before its body is
        # validated again (a category retired meanwhile must not turn a retry into a 400).
        try:
            existing = services.case_for_retry(key, request.user)
        except services.CaseError as exc:
            return Response({"detail": exc.message, "code": exc.code}, status=409)
        if existing is not None:
            if not selectors.cases_visible_to(request.user).filter(pk=existing.pk).exists():
                # The case has left the caller's area (or hands) since: the receipt only.
                return Response(
                    {"id": existing.pk, "number": existing.number},
                    status=status.HTTP_200_OK,
                    headers={"Idempotent-Replayed": "true"},
                )
            return self._answer(existing, status.HTTP_200_OK, replay=True)
        serializer = CaseCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        refusal = selectors.intake_refusal(
            request.user,
            source=data["source"],
            visitors=data["visitors"],
            auto_dispatch=data["auto_dispatch"],
        )
        if refusal is not None and refusal.status == 403:
            raise PermissionDenied(refusal.message)
        if refusal is not None:
            raise ValidationError({refusal.field: [refusal.message]})
        try:
            with transaction.atomic():
                case, created = services.case_register(
                    source=data["source"],
                    category=data["category"],
                    description=data["description"],
                    location=data["location"],
                    by=request.user,
                    urgency=data["urgency"],
                    title=data.get("title", ""),
                    address=data.get("address", ""),
                    rental_house=data.get("rental_house"),
                    visitors=data["visitors"],
                    parties=[dict(p) for p in data.get("parties", [])],
                    idempotency_key=key or None,
                    key_checked=True,
                    note=f"接口登记 / via API ({data['crs']})",
                )
                if created and data["auto_dispatch"]:
                    services.case_accept(case=case, by=request.user, auto_dispatch=True)
        except services.NotAllowed as exc:
            raise PermissionDenied(exc.message) from None
        except services.CaseError as exc:
            if exc.code == "idempotency_conflict":
                return Response({"detail": exc.message, "code": exc.code}, status=409)
            raise ValidationError({"detail": exc.message}) from None
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        fresh = created and not data["auto_dispatch"]
        return self._answer(
            case, code, replay=not created, fresh=fresh, parties=bool(data.get("parties"))
        )

    def _answer(self, case, code, replay=False, fresh=False, parties=True):
        if not fresh:
            # Unless it is the object just registered here, with its areas set: read it.
            case = Case.objects.select_related("category", "grid", "community", "street").get(
                pk=case.pk
            )
        headers = {"Location": f"/api/v1/cases/{case.pk}/"}
        if replay:
            headers["Idempotent-Replayed"] = "true"
        context = {"just_registered": fresh, "without_parties": fresh and not parties}
        data = CaseSerializer(case, context=context).data
        return Response(data, status=code, headers=headers)


class CaseDetail(generics.RetrieveAPIView):
    token_scopes = {"GET": "cases:read"}
    serializer_class = CaseSerializer

    def get_queryset(self):
        return selectors.cases_visible_to(self.request.user).select_related(
            "category", "grid", "community", "street", "merged_into"
        )


class ActionSerializer(BilingualMixin, serializers.Serializer):
    """The body of a workflow action: each action reads the fields it needs."""

    version = bilingual(serializers.IntegerField(required=False, min_value=1))
    note = bilingual(serializers.CharField(required=False, allow_blank=True, max_length=2000))
    reason = bilingual(serializers.CharField(required=False, allow_blank=True, max_length=2000))
    rating = bilingual(serializers.ChoiceField(choices=Callback.Rating.values, required=False))
    into = bilingual(serializers.CharField(required=False, max_length=24))
    worker = bilingual(serializers.IntegerField(required=False))
    unit = bilingual(serializers.IntegerField(required=False))


# The 400 answer of an action: a workflow refusal (detail, code), an unknown action, a
# malformed body (detail) or field errors of ActionSerializer ({field: [message, …]}).
ACTION_ERRORS_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "错误信息 / error message"},
        "code": {"type": "string", "description": "原因代码 / reason code"},
        "action": {"type": "string", "description": "未知操作 / unknown action"},
    },
    "additionalProperties": {
        "type": "array",
        "items": {"type": "string"},
        "description": "字段错误 / errors of a body field",
    },
}


class CaseAction(APIView):
    """Take a workflow action on a case: POST /api/v1/cases/{id}/{action}/.

    Send the `version` you read: if the case changed meanwhile the answer is 409.
    """

    token_scopes = {"POST": "cases:update"}

    @extend_schema(
        summary="案件流转操作 / Take a workflow action on a case",
        operation_id="v1_cases_action",
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH),
            OpenApiParameter(
                "action",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=list(services.ACTION_FUNCTIONS),
                description="操作 / action. refuse/return: reason; callback: rating; "
                "merge: into (原案件编号 / number of the original case); "
                "dispatch: worker or unit (ID)",
            ),
        ],
        request=ActionSerializer,
        responses={
            200: OpenApiResponse(CaseSerializer, description="操作后的案件 / the case after it"),
            400: OpenApiResponse(
                ACTION_ERRORS_SCHEMA,
                description="操作被拒绝或输入无效 / action refused or invalid input",
            ),
            403: OpenApiResponse(
                ErrorSerializer, description="无权执行 / you may not take this action"
            ),
            404: OpenApiResponse(
                ErrorSerializer, description="案件不存在或不可见 / no such case in your area"
            ),
            409: OpenApiResponse(
                CaseErrorSerializer,
                description="案件已被他人修改（version） / the case changed meanwhile",
            ),
        },
    )
    def post(self, request, pk, action):
        if action not in services.ACTION_FUNCTIONS:
            raise ValidationError(
                {
                    "action": f"未知操作“{action}” / unknown action “{action}”; choose one of "
                    f"{', '.join(services.ACTION_FUNCTIONS)}"
                }
            )
        case = get_object_or_404(selectors.cases_visible_to(request.user), pk=pk)
        refusal = selectors.action_refusal(request.user, action, case)
        if refusal is not None:
            raise PermissionDenied(refusal.message)
        serializer = ActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            kwargs = action_kwargs(action, serializer.validated_data, request.user)
            services.ACTION_FUNCTIONS[action](case=case, by=request.user, **kwargs)
        except services.CaseChanged as exc:
            return Response(
                {"detail": exc.message, "code": exc.code}, status=status.HTTP_409_CONFLICT
            )
        except services.NotAllowed as exc:
            return Response(
                {"detail": exc.message, "code": exc.code}, status=status.HTTP_403_FORBIDDEN
            )
        except services.CaseError as exc:
            return Response(
                {"detail": exc.message, "code": exc.code}, status=status.HTTP_400_BAD_REQUEST
            )
        case.refresh_from_db()
        return Response(CaseSerializer(case).data)


def action_kwargs(action, data, user):
    """Return the keyword arguments of a service action from validated input."""
    from layers.models import GridWorker

    kwargs = {"version": data.get("version")}
    if action in ("refuse", "return"):
        kwargs["reason"] = data.get("reason") or data.get("note") or ""
    elif action == "callback":
        if "rating" not in data:
            raise services.CaseError(
                "请选择满意度 / a rating is required (satisfied, basically, unsatisfied)",
                code="rating",
            )
        kwargs["rating"] = data["rating"]
        kwargs["note"] = data.get("note", "")
    elif action == "merge":
        into = selectors.cases_visible_to(user).filter(number=data.get("into", "")).first()
        if into is None:
            raise services.CaseError(
                "请给出要合并到的原案件编号 / give the number of the original case (into)",
                code="merge_into",
            )
        kwargs.update(into=into, note=data.get("note", ""))
    elif action == "dispatch":
        from cases.models import HandlerUnit

        if data.get("worker"):
            handler = GridWorker.objects.filter(pk=data["worker"]).first()
        elif data.get("unit"):
            handler = HandlerUnit.objects.filter(pk=data["unit"], active=True).first()
        else:
            handler = None
        if (data.get("worker") or data.get("unit")) and handler is None:
            raise services.CaseError("承办人不存在 / no such handler", code="handler")
        kwargs.update(handler=handler, note=data.get("note", ""))
    else:
        kwargs["note"] = data.get("note", "")
    return kwargs


class DuplicateCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    description = serializers.CharField(help_text="前 200 字 / first 200 characters")
    reported_at = serializers.DateTimeField()
    distance_m = serializers.IntegerField(help_text="距离（米） / distance in metres")
    visitors = serializers.IntegerField()


class DuplicateQueryErrorSerializer(serializers.Serializer):
    """The 400 answer of the duplicates check: one of the two keys."""

    category = serializers.CharField(required=False, help_text="类别不存在 / no such category")
    location = serializers.CharField(required=False, help_text="坐标无效 / invalid coordinates")


class DuplicateList(APIView):
    """Open cases of a category within 100 m in the last 30 days (the intake's check).

    GET ?category=<code>&lon=&lat=[&crs=wgs84]
    """

    token_scopes = {"GET": "cases:read"}

    @extend_schema(
        summary="疑似重复案件 / Possible duplicates of a new case",
        parameters=[
            OpenApiParameter(
                "category", OpenApiTypes.STR, required=True, description="类别代码 / category code"
            ),
            *POINT_PARAMETERS,
        ],
        responses={
            200: OpenApiResponse(
                DuplicateCaseSerializer(many=True),
                description="按距离排序 / nearest first",
            ),
            400: DuplicateQueryErrorSerializer,
            403: ErrorSerializer,
        },
    )
    def get(self, request):
        params = request.query_params
        code = params.get("category", "")
        # PostgreSQL text cannot hold NUL: such a code names no category.
        category = None if "\x00" in code else Category.objects.filter(code=code).first()
        if category is None:
            raise ValidationError({"category": "类别不存在 / no such category"})
        location = point_from(params.get("lon"), params.get("lat"), params.get("crs") or "wgs84")
        found = selectors.duplicates(category=category, location=location, user=request.user)
        return Response(
            [
                {
                    "id": c.pk,
                    "number": c.number,
                    "status": c.status,
                    "description": c.description[:200],
                    "reported_at": c.reported_at,
                    "distance_m": c.distance_m,
                    "visitors": c.visitors,
                }
                for c in found
            ]
        )
