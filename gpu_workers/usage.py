"""Device time used by an organization's training jobs: what usage pages show, budgets and fair share use.

A job holds ``count`` devices from ``started_at`` until ``finished_at`` (still running: until now), so it
uses ``count x duration`` device-seconds; on GPUs those are its GPU-seconds. Time is clipped to the period
asked for, so a job running across midnight at a month's end counts in both months.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from gpu_workers.models import DeviceKind
from training_app.models import TrainingJob


@dataclass(frozen=True)
class JobUsage:
    job: TrainingJob
    kind: str
    devices: int
    seconds: float  # device-seconds within the period

    @property
    def gpu_seconds(self) -> float:
        return self.seconds if self.kind == DeviceKind.GPU else 0.0


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    return month_start(month_start(moment) + timedelta(days=32))


def _shape(job: TrainingJob) -> tuple[str, int]:
    spec = job.devices.strip()
    if spec == "cpu":
        return DeviceKind.CPU, 1
    if spec.startswith("auto"):
        return DeviceKind.GPU, int(spec.split(":", 1)[1]) if ":" in spec else 1
    return DeviceKind.GPU, len({part for part in spec.split(",") if part})


def job_usage(org_ids, since: datetime, until: datetime) -> list[JobUsage]:
    """Every job of ``org_ids`` that held devices within ``[since, until)``, with its device-seconds there."""
    now = timezone.now()
    jobs = TrainingJob.objects.filter(
        organization_id__in=org_ids, started_at__isnull=False, started_at__lt=until
    )
    jobs = jobs.filter(Q(finished_at__isnull=True) | Q(finished_at__gt=since)).select_related("created_by")
    rows = []
    for job in jobs:
        start = max(job.started_at, since)
        end = min(job.finished_at or now, until, now)
        if end <= start:
            continue
        kind, count = _shape(job)
        rows.append(JobUsage(job, kind, count, count * (end - start).total_seconds()))
    return rows


def gpu_hours_this_month(org) -> Decimal:
    now = timezone.now()
    seconds = sum(u.gpu_seconds for u in job_usage([org.pk], month_start(now), now))
    return Decimal(seconds / 3600).quantize(Decimal("0.01"))


def budget_left(org) -> Decimal | None:
    """GPU-hours left of the monthly budget (None: no budget)."""
    if org.monthly_gpu_hours is None:
        return None
    return max(Decimal(0), org.monthly_gpu_hours - gpu_hours_this_month(org))


def recent_usage(org_ids) -> dict[int, int]:
    """Fair share's measure: device-minutes each organization used in the last ``FAIR_SHARE_WINDOW_HOURS``,
    each job rounded up to whole minutes (a minute's difference in run time is noise, not unfairness)."""
    now = timezone.now()
    totals: dict[int, int] = defaultdict(int)
    for usage in job_usage(org_ids, now - timedelta(hours=settings.FAIR_SHARE_WINDOW_HOURS), now):
        totals[usage.job.organization_id] += math.ceil(usage.seconds / 60)
    return totals
