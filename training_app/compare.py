"""Compare training jobs: their loss curves overlaid, and only the settings in which they differ.

``/training/compare/?jobs=1,2,3`` (or ``?jobs=1&jobs=2``, what the job list's checkboxes send). Every id
must be one of the current organization's jobs; another organization's id is a 404 like a missing one.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from llm_platform.input_guard import as_id
from llm_platform.portal.views import require_org
from llm_platform.tenancy import scoped
from training_app.models import JobEvent, TrainingJob
from training_app.scores import PREFERENCE_KEYS, evaluation_results

MAX_JOBS = 8  # one distinct colour each; more curves than that stop being readable
MAX_POINTS = 1500  # per curve: a 50k-step run still draws quickly, the shape stays
NOT_SET = "—"


def job_ids_from(query) -> list[int]:
    """Ids in the order given, without repeats; anything that is not an id is simply not found."""
    ids: list[int] = []
    for part in ",".join(query.getlist("jobs")).split(","):
        part = part.strip()
        if not part:
            continue
        job_id = as_id(part)
        if job_id is None:
            raise Http404("No such job")
        if job_id not in ids:
            ids.append(job_id)
    return ids


def settings_of(job: TrainingJob) -> dict[str, object]:
    """A job's settings as a person compares them: what it trains, on what data, and how."""
    datasets = ", ".join(
        use.shown_name + (f" ({use.num_samples} rows)" if use.num_samples else "")
        for use in job.job_datasets.all()
    )
    return {
        "base model": job.base_model.name,
        "stage": job.stage,
        "method": job.method,
        "datasets": datasets or NOT_SET,
        "devices": job.devices,
        "seed": job.seed,
        **dict(sorted((job.hyperparameters or {}).items())),
    }


def differences(settings: list[dict[str, object]]) -> tuple[list[dict], list[tuple[str, object]]]:
    """Split the union of keys into rows that differ (each cell marked where it departs from the first
    job, the reference) and the keys every job shares, with their common value."""
    keys = list(dict.fromkeys(key for one in settings for key in one))
    differing, same = [], []
    for key in keys:
        values = [one.get(key, NOT_SET) for one in settings]
        if all(value == values[0] for value in values):
            same.append((key, values[0]))
            continue
        cells = [
            {"value": value, "changed": index > 0 and value != values[0]}
            for index, value in enumerate(values)
        ]
        differing.append({"key": key, "cells": cells})
    return differing, same


def _thin(points: list[list[float]]) -> list[list[float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = -(-len(points) // MAX_POINTS)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def curves_of(jobs: list[TrainingJob]) -> dict[int, dict]:
    """Train and eval loss by step for each job, read up to each job's ``last_seq`` (read before the
    events), so the page's live socket, which resumes after that seq, adds no point twice."""
    curves = {job.pk: {"train": [], "eval": [], "rewards": {}} for job in jobs}
    bound = {job.pk: job.last_seq for job in jobs}
    rows = (
        JobEvent.objects.filter(job_id__in=bound, type="metric")
        .order_by("job_id", "seq")
        .values_list("job_id", "seq", "payload")
    )
    for job_id, seq, payload in rows.iterator(chunk_size=2000):
        step = payload.get("step")
        if seq > bound[job_id] or step is None:
            continue
        if payload.get("loss") is not None:
            curves[job_id]["train"].append([step, payload["loss"]])
        if payload.get("eval_loss") is not None:
            curves[job_id]["eval"].append([step, payload["eval_loss"]])
        for key, _label in PREFERENCE_KEYS:  # the newest of each DPO reward metric
            value = (payload.get("extra") or {}).get(key)
            if isinstance(value, int | float):
                curves[job_id]["rewards"][key] = value
    for curve in curves.values():
        curve["train"] = _thin(curve["train"])
    return curves


def summary_of(job: TrainingJob, curve: dict, jobs: list[TrainingJob]) -> dict[str, object]:
    evals = [loss for _step, loss in curve["eval"]]
    summary = {
        "steps": f"{job.current_step:,} / {job.total_steps:,}" if job.total_steps else NOT_SET,
        "final train loss": round(curve["train"][-1][1], 4) if curve["train"] else NOT_SET,
        "best eval loss": round(min(evals), 4) if evals else NOT_SET,
    }
    if any(other.stage == "dpo" for other in jobs):
        for key, label in PREFERENCE_KEYS:
            value = curve["rewards"].get(key)
            summary[f"{label} (last logged)"] = round(value, 4) if value is not None else NOT_SET
    return summary


@login_required
def compare_jobs(request):
    org = require_org(request)
    ids = job_ids_from(request.GET)
    context: dict[str, object] = {"max_jobs": MAX_JOBS, "jobs": []}
    if len(ids) > MAX_JOBS:
        context["error"] = f"Pick at most {MAX_JOBS} jobs to compare; {len(ids)} were picked."
        return render(request, "training/compare.html", context, status=400)
    found = {
        job.pk: job
        for job in scoped(TrainingJob.objects.select_related("base_model"), org)
        .filter(pk__in=ids)
        .prefetch_related("job_datasets__dataset")
    }
    if len(found) != len(ids):
        raise Http404("No such job")
    jobs = [found[pk] for pk in ids]
    curves = curves_of(jobs)
    differing, same = differences([settings_of(job) for job in jobs])
    summaries = [summary_of(job, curves[job.pk], jobs) for job in jobs]
    context.update(
        jobs=jobs,
        differing=differing,
        same=same,
        results=[{"key": key, "cells": [s[key] for s in summaries]} for key in summaries[0]] if jobs else [],
        scores=evaluation_results(jobs),
        series=[
            {
                "id": job.pk,
                "name": job.name,
                "status": job.status,
                "last_seq": job.last_seq,
                "train": curves[job.pk]["train"],
                "eval": curves[job.pk]["eval"],
            }
            for job in jobs
        ],
    )
    return render(request, "training/compare.html", context)
