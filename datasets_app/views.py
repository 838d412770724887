"""Portal pages of datasets: list, upload, detail (stats, errors, preview, progress), download, delete.

Members write, viewers read; another organization's dataset is a 404 on every page; presets are shown
to everyone and deleted only by their owner (or operators, in the admin).
"""

from __future__ import annotations

import json
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from llm_platform.disconnect import client_gone
from llm_platform.errors import Conflict, DomainError
from llm_platform.input_guard import MAX_PAGE, whole_number
from llm_platform.portal.views import require_org, require_write
from llm_platform.tenancy import get_scoped_or_404, scoped
from training_app.models import ACTIVE_STATUSES

from . import services
from .charts import role_rows
from .errors import ReadOnlyDataset, UploadRejected
from .forms import DatasetUploadForm
from .models import Dataset, DatasetKind, DatasetStatus

PREVIEW_PAGE_SIZE = 10
LIST_PAGE_SIZE = 50


def _dataset(request: HttpRequest, pk: int) -> Dataset:
    return get_scoped_or_404(Dataset.objects.select_related("organization", "created_by"), request.org, pk=pk)


def _page_number(request: HttpRequest, name: str = "page") -> int:
    raw = request.GET.get(name, "")
    return whole_number(raw, name, minimum=1, maximum=MAX_PAGE) if raw else 1


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    org = require_org(request)
    visible = scoped(Dataset.objects.select_related("organization", "created_by"), org)
    try:
        own = services.filter_datasets(visible.filter(organization=org), request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        own = visible.filter(organization=org)
    page = Paginator(own, LIST_PAGE_SIZE).get_page(_page_number(request))
    presets = visible.filter(is_preset=True).exclude(organization=org).order_by("name")
    return render(
        request,
        "datasets/list.html",
        {
            "page": page,
            "presets": presets,
            "statuses": DatasetStatus.choices,
            "kinds": DatasetKind.choices,
            "filters": {key: request.GET.get(key, "") for key in ("status", "kind", "search")},
        },
    )


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    org = require_org(request)
    require_write(request)
    form = DatasetUploadForm(request.POST or None, request.FILES or None, org=org)
    rejected = None
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.create_dataset(
                org,
                request.user,
                form.cleaned_data["file"],
                cancelled=client_gone(request),
                **form.service_kwargs(),
            )
        except UploadRejected as exc:
            rejected = exc
            form.add_error("file", exc.message)
        except DomainError as exc:
            field = next((name for name in exc.fields or {} if name in form.fields), None)
            form.add_error(field, exc.message)
        else:
            if dataset.status == DatasetStatus.READY:
                messages.success(request, f"{dataset.name}: {dataset.num_rows} rows ready.")
            else:
                messages.info(request, f"{dataset.name} is large; it is being processed in the background.")
            return redirect("datasets:detail", pk=dataset.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "rejected": rejected, "inline_mb": settings.INLINE_INGEST_MAX_MB}
    return render(request, "datasets/upload.html", context, status=status)


def _preview_context(dataset: Dataset, page: int) -> dict:
    num_pages = max(1, math.ceil(dataset.num_rows / PREVIEW_PAGE_SIZE))
    page = min(page, num_pages)
    offset = (page - 1) * PREVIEW_PAGE_SIZE
    rows = services.preview_rows(dataset, offset, PREVIEW_PAGE_SIZE)
    for row in rows:
        if row.get("tools"):
            row["tools_json"] = json.dumps(row["tools"], ensure_ascii=False, indent=1)
    return {
        "dataset": dataset,
        "rows": rows,
        "last_row": offset + len(rows),
        "page": page,
        "num_pages": num_pages,
        "first_row": offset + 1,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < num_pages else None,
    }


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = require_org(request)
    dataset = _dataset(request, pk)
    active_jobs = dataset.job_uses.filter(job__status__in=ACTIVE_STATUSES, job__organization=org)
    context = {
        "dataset": dataset,
        "roles": role_rows(dataset.stats),
        "errors_total": sum(dataset.error_counts.values()),
        "dropped": [
            (reason.replace("_", " "), count)
            for reason, count in (dataset.stats.get("dropped_by_reason") or {}).items()
        ],
        "owned": dataset.writable_by(org),
        "active_jobs": active_jobs.select_related("job"),
        "ref": services.dataset_url(dataset),
    }
    if dataset.status == DatasetStatus.READY:
        context.update(_preview_context(dataset, _page_number(request)))
    return render(request, "datasets/detail.html", context)


@login_required
@require_GET
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    require_org(request)
    dataset = _dataset(request, pk)
    return render(request, "datasets/_preview.html", _preview_context(dataset, _page_number(request)))


@login_required
@require_GET
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled by htmx while the dataset is processed; once it is done the page reloads itself."""
    require_org(request)
    dataset = _dataset(request, pk)
    if dataset.status in (DatasetStatus.READY, DatasetStatus.FAILED):
        response = HttpResponse()
        response["HX-Refresh"] = "true"
        return response
    return render(request, "datasets/_progress.html", {"dataset": dataset})


@login_required
@require_GET
def download(request: HttpRequest, pk: int, which: str) -> HttpResponse:
    require_org(request)
    dataset = _dataset(request, pk)
    try:
        return services.download_response(dataset, which)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("datasets:detail", pk=dataset.pk)


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    dataset = _dataset(request, pk)
    try:
        services.delete_dataset(dataset, request.org)
    except ReadOnlyDataset as exc:
        raise PermissionDenied(exc.message) from None
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("datasets:detail", pk=dataset.pk)
    messages.success(request, f"Deleted {dataset.name}.")
    return redirect("datasets:list")
