"""Bisheng-compatible ``GET /api/v1/finetune/gpu``: every live GPU with its really used memory (NVML).

Bisheng lists ``{gpu_uuid, gpu_id, gpu_total_mem, gpu_used_mem, gpu_utility, server}`` per GPU, memory as
``"12.34 G"`` (GiB) and utility as a fraction. CPU slots are not GPUs and are left out.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from gpu_workers.capabilities import live_devices
from gpu_workers.models import DeviceKind
from llm_platform.bisheng import BishengAPIView, envelope, reply_schema

GPU = inline_serializer(
    "BishengGpu",
    {
        "gpu_uuid": serializers.CharField(allow_blank=True),
        "gpu_id": serializers.CharField(),
        "gpu_total_mem": serializers.CharField(help_text='GiB, as "12.34 G".'),
        "gpu_used_mem": serializers.CharField(help_text='GiB, as "12.34 G".'),
        "gpu_utility": serializers.FloatField(help_text="A fraction, 0-1."),
        "server": serializers.CharField(),
    },
    many=True,
)


class GpuListView(BishengAPIView):
    @reply_schema("GpuList", GPU)
    def get(self, request):
        gpus = live_devices().filter(kind=DeviceKind.GPU).order_by("host", "index")
        return envelope(
            [
                {
                    "gpu_uuid": device.uuid,
                    "gpu_id": str(device.index),
                    "gpu_total_mem": f"{device.memory_total_mb / 1024:.2f} G",
                    "gpu_used_mem": f"{device.memory_used_mb / 1024:.2f} G",
                    "gpu_utility": round(device.utilization / 100, 2),
                    "server": device.host,
                }
                for device in gpus
            ]
        )
