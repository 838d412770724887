"""The GPUs page: every device of the fleet, per host, with what it is doing.

Devices are shared infrastructure, so every member of every organization sees all of them; the job on a
device is named (and linked) only for its own organization, and is "busy" for everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from gpu_workers.live import queue_length
from gpu_workers.models import Device
from llm_platform.portal.views import require_org
from training_app.models import JobStatus, TrainingJob


@dataclass
class DeviceRow:
    device: Device
    status: str
    own_job: TrainingJob | None

    @property
    def memory_percent(self) -> int:
        total = self.device.memory_total_mb
        return round(100 * self.device.memory_used_mb / total) if total else 0


def fleet(org) -> list[tuple[str, list[DeviceRow]]]:
    """``[(host, rows)]`` in host order; each row knows whether its job belongs to ``org``."""
    hosts: dict[str, list[DeviceRow]] = {}
    for device in Device.objects.select_related("leased_job").order_by("host", "kind", "index"):
        job = device.leased_job
        status = device.status if device.is_alive else "offline"
        own = job if job is not None and job.organization_id == org.pk else None
        hosts.setdefault(device.host, []).append(DeviceRow(device, status, own))
    return list(hosts.items())


@login_required
def device_list(request):
    org = require_org(request)
    context = {
        "hosts": fleet(org),
        "queue_total": queue_length(),
        "queue_own": TrainingJob.objects.filter(organization=org, status=JobStatus.QUEUED).count(),
    }
    template = "gpus/_fleet.html" if request.GET.get("fragment") else "gpus/list.html"
    return render(request, template, context)
