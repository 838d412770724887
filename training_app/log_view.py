"""A job's whole log in the portal, after (or during) the run: page by page, filtered by level.

The job page shows only the newest lines; this page reads the same event rows as the API's
``/api/jobs/<id>/events/?type=log&level=...`` and offers the same filter as a text download.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from llm_platform.portal.views import require_org
from llm_platform.tenancy import get_scoped_or_404
from training_app.models import JobEvent, TrainingJob

LINES_PER_PAGE = 200
LEVELS = ("debug", "info", "warning", "error")
# Without a level filter the log reads like the trainer's terminal: lines, status changes, checkpoints.
UNFILTERED_TYPES = ("log", "status", "checkpoint")


def levels_from(query) -> list[str]:
    asked = {level for value in query.getlist("level") for level in value.split(",")}
    return [level for level in LEVELS if level in asked]


def _query(levels: list[str]) -> str:
    return "?" + urlencode({"level": ",".join(levels)}, safe=",") if levels else "?"


@login_required
def job_log(request, pk: int):
    org = require_org(request)
    job = get_scoped_or_404(TrainingJob.objects, org, pk=pk)
    levels = levels_from(request.GET)
    events = JobEvent.objects.filter(job=job)
    if levels:
        events = events.filter(type="log", level__in=levels)
    else:
        events = events.filter(type__in=UNFILTERED_TYPES)
    paginator = Paginator(events.order_by("seq"), LINES_PER_PAGE)
    number = request.GET.get("page")
    page = paginator.get_page(paginator.num_pages if number == "last" else number)
    chips = [
        {
            "level": level,
            "active": level in levels,
            # Each chip toggles its level in or out of the current filter.
            "query": _query([lv for lv in LEVELS if (lv in levels) != (lv == level)]),
        }
        for level in LEVELS
    ]
    return render(
        request,
        "training/job_log.html",
        {
            "job": job,
            "page": page,
            "levels": levels,
            "chips": chips,
            "page_prefix": _query(levels) + ("&page=" if levels else "page="),
            "download_query": _query(levels).lstrip("?"),
        },
    )
