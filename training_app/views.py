"""Portal pages for training: base models, the job list, the job form, and a job's live page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gpu_workers.scheduler import waiting_reason
from llm_platform.errors import DomainError
from llm_platform.portal.views import require_org, require_write
from llm_platform.tenancy import get_scoped_or_404, scoped
from training_app import services
from training_app.demo import start_demo_job
from training_app.forms import JobForm
from training_app.models import BaseModel, JobEvent, JobStatus, TrainingJob

LOG_LINES_ON_PAGE = 300
LIVE_LOG_TYPES = ("log", "status", "checkpoint", "eval")


@login_required
def job_list(request):
    org = require_org(request)
    jobs = scoped(TrainingJob.objects.select_related("base_model"), org)
    status = request.GET.get("status", "")
    if status:
        jobs = jobs.filter(status=status)
    query = request.GET.get("q", "").strip()
    if query:
        jobs = jobs.filter(name__icontains=query)
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "training/job_list.html",
        {
            "page": page,
            "status": status,
            "q": query,
            "statuses": JobStatus.choices,
        },
    )


def _dataset_choices(request, org):
    from datasets_app.models import Dataset, DatasetStatus

    chosen, errors = [], []
    for dataset in scoped(Dataset.objects.filter(status=DatasetStatus.READY), org):
        if not request.POST.get(f"ds_{dataset.pk}_use"):
            continue
        num = request.POST.get(f"ds_{dataset.pk}_num", "").strip()
        ratio = request.POST.get(f"ds_{dataset.pk}_ratio", "").strip()
        try:
            num_samples = int(num) if num else None
            ratio_value = float(ratio) / 100 if ratio else None
        except ValueError:
            errors.append(f"{dataset.name}: sample count and share must be numbers")
            continue
        placeholders = {key: request.POST.get(f"placeholder_{key}", "").strip() for key in ("name", "author")}
        chosen.append(
            services.DatasetChoice(
                dataset, num_samples, ratio_value, {k: v for k, v in placeholders.items() if v}
            )
        )
    return chosen, errors


@login_required
def job_create(request):
    from datasets_app.models import Dataset, DatasetStatus

    org = require_org(request)
    source = None
    if request.method != "POST" and request.GET.get("from"):
        source = get_scoped_or_404(TrainingJob.objects, org, pk=request.GET["from"])
    form = JobForm(request.POST or None, org=org, initial=clone_initial(source) if source else None)
    field_errors: dict[str, str] = {}
    if request.method == "POST":
        require_write(request)
        datasets, dataset_errors = _dataset_choices(request, org)
        if form.is_valid() and not dataset_errors:
            try:
                job = services.create_job(
                    org,
                    request.user,
                    name=form.cleaned_data["name"],
                    base_model=form.cleaned_data["base_model"],
                    datasets=datasets,
                    stage=form.cleaned_data["stage"],
                    method=form.cleaned_data["method"],
                    hyperparameters=form.hyperparameters(),
                    devices=form.cleaned_data["devices"].strip(),
                    seed=form.cleaned_data["seed"],
                )
            except DomainError as exc:
                field_errors = exc.fields or {"__all__": exc.message}
            else:
                messages.success(request, f"Job {job.name} queued.")
                return redirect("training:detail", pk=job.pk)
        for message in dataset_errors:
            field_errors.setdefault("datasets", message)
        for name, message in field_errors.items():
            target = f"hp_{name}" if f"hp_{name}" in form.fields else name
            if target in form.fields:
                form.add_error(target, message)
    datasets = scoped(Dataset.objects.filter(status=DatasetStatus.READY), org).order_by("-is_preset", "name")
    selected = {
        key[3:].split("_")[0] for key in request.POST if key.startswith("ds_") and key.endswith("_use")
    }
    amounts = {
        key: value
        for key, value in request.POST.items()
        if key.startswith("ds_") and not key.endswith("_use")
    }
    placeholders = {key: request.POST.get(f"placeholder_{key}", "") for key in ("name", "author")}
    if source is not None:
        selected, amounts, placeholders = clone_datasets(source)
    for dataset in datasets:
        dataset.form_num = amounts.get(f"ds_{dataset.pk}_num", "")
        dataset.form_ratio = amounts.get(f"ds_{dataset.pk}_ratio", "")
    return render(
        request,
        "training/job_form.html",
        {
            "form": form,
            "datasets": datasets,
            "selected": selected,
            "field_errors": field_errors,
            "placeholders": placeholders,
            "source": source,
            "stage_kinds": services.KIND_FOR_STAGE,
        },
    )


def clone_initial(job: TrainingJob) -> dict:
    """The job form filled in from ``job``: every field editable before the copy is queued."""
    initial = {
        "name": f"{job.name}-copy"[:50],
        "base_model": job.base_model_id,
        "stage": job.stage,
        "method": job.method,
        "devices": job.devices,
        "seed": job.seed,
    }
    initial.update({f"hp_{key}": value for key, value in (job.hyperparameters or {}).items()})
    return initial


def clone_datasets(job: TrainingJob) -> tuple[set[str], dict[str, str], dict[str, str]]:
    """The datasets ticked in the form for a copy of ``job``, their counts and shares, and the
    identity placeholders it filled."""
    selected, amounts, placeholders = set(), {}, {}
    for chosen in job.job_datasets.exclude(dataset=None):
        selected.add(str(chosen.dataset_id))
        if chosen.num_samples:
            amounts[f"ds_{chosen.dataset_id}_num"] = str(chosen.num_samples)
        if chosen.ratio:
            amounts[f"ds_{chosen.dataset_id}_ratio"] = f"{chosen.ratio * 100:g}"
        placeholders.update(chosen.placeholders or {})
    return selected, amounts, placeholders


@login_required
@require_POST
def demo_job(request):
    """The home page's one click: the demo job on the identity preset, then its live page."""
    org = require_org(request)
    require_write(request)
    try:
        job = start_demo_job(org, request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("home")
    messages.success(request, f"Job {job.name} queued: watch the loss fall, then publish it.")
    return redirect("training:detail", pk=job.pk)


@login_required
def job_detail(request, pk: int):
    org = require_org(request)
    job = get_scoped_or_404(TrainingJob.objects.select_related("base_model", "created_by"), org, pk=pk)
    # Only events up to the job row's last_seq: the websocket replays from there, so a newer event read
    # here as well would be shown twice.
    shown = JobEvent.objects.filter(job=job, seq__lte=job.last_seq)
    # The same kinds of lines the live page adds (job_live.js), so a reload shows what was there before it.
    logs = list(shown.filter(type__in=LIVE_LOG_TYPES).order_by("-seq")[:LOG_LINES_ON_PAGE])
    metrics = shown.filter(type="metric").order_by("seq").values_list("payload", flat=True)
    return render(
        request,
        "training/job_detail.html",
        {
            "job": job,
            "datasets": job.job_datasets.select_related("dataset"),
            "logs": list(reversed(logs)),
            "metrics": list(metrics),  # json_script encodes it: a dumps() here would encode it twice
            "last_seq": job.last_seq,
            "report_rows": report_rows(job.report, job.base_report),
            "samples": report_samples(job.report, job.base_report),
            "files": (job.artifacts or {}).get("files", []),
            "merged_files": (job.artifacts or {}).get("merged_files", []),
            "hyperparameters": sorted(job.hyperparameters.items()),
            "waiting_for": waiting_reason(job),
        },
    )


REPORT_KEYS = [
    ("eval_loss", "Eval loss"),
    ("perplexity", "Perplexity"),
    ("bleu_4", "BLEU-4"),
    ("rouge_1", "ROUGE-1"),
    ("rouge_2", "ROUGE-2"),
    ("rouge_l", "ROUGE-L"),
    ("exact_match", "Exact match"),
]


def report_rows(report: dict, base: dict) -> list[tuple[str, object, object]]:
    return [
        (label, report.get(key), (base or {}).get(key)) for key, label in REPORT_KEYS if key in (report or {})
    ]


def report_samples(report: dict, base: dict, limit: int = 5) -> list[dict]:
    """Held-out prompts with the reference and both predictions (the base model's when it was scored)."""
    base_samples = (base or {}).get("samples") or []
    rows = []
    for index, sample in enumerate(((report or {}).get("samples") or [])[:limit]):
        other = base_samples[index] if index < len(base_samples) else {}
        rows.append({**sample, "base_prediction": other.get("prediction")})
    return rows


def _action(request, pk: int, operation, done: str):
    org = require_org(request)
    require_write(request)
    job = get_scoped_or_404(TrainingJob.objects, org, pk=pk)
    try:
        result = operation(job)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("training:detail", pk=job.pk)
    messages.success(request, done.format(job=job))
    return result


@login_required
@require_POST
def job_cancel(request, pk: int):
    _action(request, pk, services.cancel_job, "Cancelling {job.name}.")
    return redirect("training:detail", pk=pk)


@login_required
@require_POST
def job_retry(request, pk: int):
    _action(request, pk, services.retry_job, "{job.name} queued again; it resumes from its last checkpoint.")
    return redirect("training:detail", pk=pk)


@login_required
@require_POST
def job_clone(request, pk: int):
    new = _action(
        request,
        pk,
        lambda job: services.clone_job(job, request.user, request.POST.get("name", "")),
        "Cloned {job.name}.",
    )
    if isinstance(new, TrainingJob):
        return redirect("training:detail", pk=new.pk)
    return redirect("training:detail", pk=pk)


@login_required
@require_POST
def job_rename(request, pk: int):
    _action(request, pk, lambda job: services.rename_job(job, request.POST.get("name", "")), "Renamed.")
    return redirect("training:detail", pk=pk)


@login_required
@require_POST
def job_delete(request, pk: int):
    result = _action(request, pk, services.delete_job, "Deleted {job.name}.")
    if hasattr(result, "status_code"):
        return result
    return redirect("training:list")


@login_required
@require_POST
def job_export(request, pk: int):
    from training_app import exports

    _action(
        request,
        pk,
        exports.request_merge,
        "Merging the adapter of {job.name}; the merged files are listed under Files when it is done.",
    )
    return redirect("training:detail", pk=pk)


@login_required
@require_POST
def job_register_base(request, pk: int):
    from training_app import exports

    _action(
        request,
        pk,
        lambda job: exports.register_as_base_model(job, request.POST.get("name", "").strip()),
        "{job.name} is now a base model of your organization.",
    )
    return redirect("training:detail", pk=pk)


@login_required
def job_artifact(request, pk: int, path: str):
    org = require_org(request)
    job = get_scoped_or_404(TrainingJob.objects, org, pk=pk)
    artifacts = job.artifacts or {}
    files = {f["path"]: f["name"] for f in artifacts.get("files", [])}
    files.update({f"merged/{f['path']}": f["name"] for f in artifacts.get("merged_files", [])})
    if path not in files:
        raise Http404("No such file")
    return FileResponse(
        default_storage.open(files[path], "rb"), as_attachment=True, filename=path.rsplit("/", 1)[-1]
    )


@login_required
def base_models(request):
    org = require_org(request)
    models = scoped(BaseModel.objects.select_related("source_job"), org).distinct()
    return render(
        request, "training/base_models.html", {"models": models, "new_job_url": reverse("training:new")}
    )
