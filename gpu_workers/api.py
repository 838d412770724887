"""Devices are shared infrastructure: every member sees them; which job holds one is shown only to its org."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from gpu_workers.live import queue_length
from gpu_workers.models import Device
from llm_platform.api.permissions import TenantPermission, request_org_and_role
from training_app.models import JobStatus, TrainingJob


class DeviceSerializer(serializers.ModelSerializer):
    job = serializers.SerializerMethodField()
    alive = serializers.BooleanField(source="is_alive", read_only=True)
    busy = serializers.BooleanField(source="is_busy", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "host",
            "kind",
            "index",
            "uuid",
            "name",
            "memory_total_mb",
            "memory_used_mb",
            "utilization",
            "status",
            "drain",
            "alive",
            "busy",
            "serving_holds",
            "heartbeat_at",
            "job",
        ]
        read_only_fields = fields

    def get_status(self, device) -> str:
        return device.status if device.is_alive else "offline"

    def get_job(self, device) -> dict | None:
        job = device.leased_job
        if job is None:
            return None
        if job.organization_id != getattr(self.context.get("org"), "id", None):
            return {"busy": True}  # another team's job: say the device is busy, nothing more
        return {"id": job.id, "name": job.name, "status": job.status}


class DeviceViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [TenantPermission]
    queryset = Device.objects.select_related("leased_job")
    serializer_class = DeviceSerializer

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["org"] = request_org_and_role(self.request)[0]
        return context

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        org = request_org_and_role(request)[0]
        response.data["queue_length"] = queue_length()
        response.data["queue_length_own"] = TrainingJob.objects.filter(
            organization=org, status=JobStatus.QUEUED
        ).count()
        return response
