"""``GET /api/usage/``: the organization's device time and tokens, with its limits."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from llm_platform.api.permissions import TenantPermission, request_org_and_role
from serving_app.org_usage import parse_month, usage_report


class LimitsSerializer(serializers.Serializer):
    monthly_gpu_hours = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    gpu_hours_used_this_month = serializers.DecimalField(max_digits=12, decimal_places=2)
    gpu_hours_left = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    max_running_jobs = serializers.IntegerField(allow_null=True)
    max_gpus = serializers.IntegerField(allow_null=True)


class MonthUsageSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    device_hours = serializers.FloatField()
    gpu_hours = serializers.FloatField()


class MemberUsageSerializer(serializers.Serializer):
    username = serializers.CharField()
    device_hours = serializers.FloatField()
    gpu_hours = serializers.FloatField()


class JobUsageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="gpu or cpu")
    devices = serializers.IntegerField()
    device_hours = serializers.FloatField()
    gpu_hours = serializers.FloatField()


class TokenUsageSerializer(serializers.Serializer):
    day = serializers.DateField()
    model = serializers.CharField()
    deployment = serializers.IntegerField(allow_null=True)
    requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class UsageReportSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="The month the members and jobs are for (YYYY-MM).")
    limits = LimitsSerializer()
    months = MonthUsageSerializer(many=True, help_text="This month and the five before it.")
    members = MemberUsageSerializer(many=True)
    jobs = JobUsageSerializer(many=True)
    tokens = TokenUsageSerializer(many=True, help_text="Per deployment and day, the last 31 days.")


class UsageView(APIView):
    permission_classes = [TenantPermission]

    @extend_schema(
        parameters=[
            OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM (default: this month).")
        ],
        responses=UsageReportSerializer,
    )
    def get(self, request):
        org = request_org_and_role(request)[0]
        report = usage_report(org, parse_month(request.query_params.get("month")))
        return Response(UsageReportSerializer(report).data)
