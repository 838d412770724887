"""``{% org_limits org %}``: the organization's limits and what is in use, shown before a job is submitted."""

from __future__ import annotations

from django import template
from django.db.models import Q

from gpu_workers.models import Device, DeviceKind
from gpu_workers.usage import budget_left, gpu_hours_this_month
from training_app.models import JobStatus, TrainingJob

register = template.Library()


@register.inclusion_tag("gpus/_org_limits.html")
def org_limits(org) -> dict:
    if org is None:
        return {}
    active = Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, placed_at__isnull=False)
    return {
        "org": org,
        "running": TrainingJob.objects.filter(active, organization=org).count(),
        "gpus_held": Device.objects.filter(kind=DeviceKind.GPU, leased_job__organization=org).count(),
        "gpu_hours_used": gpu_hours_this_month(org),
        "gpu_hours_left": budget_left(org),
    }
