"""GET /api/v1/kpis/: the centres' KPIs as JSON (definitions in cases/kpis.py)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.kpis import DIMENSIONS, KpiParamError, kpi_report, parse_query
from cases.models import Source

_PARAMETERS = [
    OpenApiParameter("street", OpenApiTypes.STR, description="街道代码（9 位）/ street code"),
    OpenApiParameter(
        "community", OpenApiTypes.STR, description="社区代码（12 位）/ community code"
    ),
    OpenApiParameter("grid", OpenApiTypes.STR, description="网格代码（20 位）/ grid code"),
    OpenApiParameter("category", OpenApiTypes.STR, description="事项类别代码 / category code"),
    OpenApiParameter("source", OpenApiTypes.STR, enum=Source.values, description="来源 / source"),
    OpenApiParameter("since", OpenApiTypes.DATE, description="起始日期（含）/ first day"),
    OpenApiParameter("until", OpenApiTypes.DATE, description="截止日期（含）/ last day"),
    OpenApiParameter(
        "by", OpenApiTypes.STR, enum=list(DIMENSIONS), description="分组维度 / group rows by"
    ),
]


class KpiView(APIView):
    """Answer the KPIs of the cases the user may see, filtered, optionally grouped."""

    @extend_schema(parameters=_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        try:
            query = parse_query(request.query_params)
        except KpiParamError as exc:
            return Response(
                {
                    "detail": "查询参数无效 / Invalid query parameters.",
                    "errors": exc.bilingual(),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(kpi_report(request.user, query))
