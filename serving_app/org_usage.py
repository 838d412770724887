"""One organization's usage: device time of its training jobs (per month, member and job) and the tokens
its deployments served (per deployment and day), with its limits. The usage page and ``/api/usage/``."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from gpu_workers.usage import budget_left, gpu_hours_this_month, job_usage, month_start, next_month
from llm_platform.input_guard import BadInput
from serving_app.models import Usage

MONTHS_SHOWN = 6
TOKEN_DAYS = 31


def parse_month(raw: str | None) -> datetime:
    """``YYYY-MM`` (blank: this month) as the month's first instant, else BadInput naming ``month``."""
    text = (raw or "").strip()
    if not text:
        return month_start(timezone.now())
    try:
        return datetime.strptime(text, "%Y-%m").replace(tzinfo=timezone.get_current_timezone())
    except ValueError:
        raise BadInput("month", f"must be a month like 2026-01, not {text[:20]!r}") from None


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 3)


def usage_report(org, month: datetime) -> dict:
    month_end = next_month(month)
    in_month = job_usage([org.pk], month, month_end)
    per_member: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for usage in in_month:
        who = usage.job.created_by.get_username() if usage.job.created_by else "(API or system)"
        per_member[who][0] += usage.seconds
        per_member[who][1] += usage.gpu_seconds
    months = []
    start = month
    for _ in range(MONTHS_SHOWN):
        rows = in_month if start == month else job_usage([org.pk], start, next_month(start))
        months.append(
            {
                "month": start.strftime("%Y-%m"),
                "device_hours": _hours(sum(u.seconds for u in rows)),
                "gpu_hours": _hours(sum(u.gpu_seconds for u in rows)),
            }
        )
        start = month_start(start - timedelta(days=1))
    since = min(timezone.now().date(), month_end.date()) - timedelta(days=TOKEN_DAYS)
    tokens = (
        Usage.objects.filter(organization=org, day__gt=since)
        .values("day", "model", "deployment_id")
        .annotate(
            requests=Sum("requests"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
        )
        .order_by("-day", "model")
    )
    left = budget_left(org)
    return {
        "month": month.strftime("%Y-%m"),
        "limits": {
            "monthly_gpu_hours": org.monthly_gpu_hours,
            "gpu_hours_used_this_month": gpu_hours_this_month(org),
            "gpu_hours_left": left,
            "max_running_jobs": org.max_running_jobs,
            "max_gpus": org.max_gpus,
        },
        "months": months,
        "members": [
            {"username": who, "device_hours": _hours(d), "gpu_hours": _hours(g)}
            for who, (d, g) in sorted(per_member.items())
        ],
        "jobs": [
            {
                "id": u.job.pk,
                "name": u.job.name,
                "kind": u.kind,
                "devices": u.devices,
                "device_hours": _hours(u.seconds),
                "gpu_hours": _hours(u.gpu_seconds),
            }
            for u in sorted(in_month, key=lambda u: (-u.seconds, u.job.pk))
        ],
        "tokens": [
            {
                "day": row["day"],
                "model": row["model"],
                "deployment": row["deployment_id"],
                "requests": row["requests"],
                "prompt_tokens": row["prompt_tokens"],
                "completion_tokens": row["completion_tokens"],
            }
            for row in tokens
        ],
    }
