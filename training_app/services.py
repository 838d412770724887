"""Training jobs: create, cancel, retry, rename, delete, clone. Views and APIs only translate to these."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from gpu_workers.capabilities import capabilities, explicit_gpus_problem
from gpu_workers.scheduler import job_stopped, schedule
from llm_platform.audit import record
from llm_platform.errors import Conflict, DomainError
from llm_platform.tenancy import scoped
from training_app.base_models import hide_server_paths
from training_app.models import ACTIVE_STATUSES, BaseModel, JobDataset, JobStatus, TrainingJob
from training_app.states import transition
from training_app.trainer.limits import SEED_BOUND, run_size_errors
from training_app.trainer.spec import METHODS, STAGES, Hyperparameters, environment_errors

DEVICES_PATTERN = re.compile(r"^(cpu|auto(:[1-9][0-9]?)?|[0-9]{1,2}(,[0-9]{1,2})*)$")
KIND_FOR_STAGE = {"sft": "sft", "dpo": "preference", "pt": "text", "kto": "kto"}
FILLED_BY_JOB = {"name": "the model name", "author": "the author"}  # {{name}}/{{author}} in datasets
# When generation evaluation is on and a job does not say what to hold out, a tenth of its rows is held
# out for scoring, at most DEFAULT_HELD_OUT_ROWS (a generation evaluation scores max_eval_samples of them;
# more would only take rows from training), and none from data too small to spare any.
DEFAULT_VAL_SHARE = 0.1
DEFAULT_HELD_OUT_ROWS = 200
MIN_ROWS_TO_HOLD_OUT = 10


@dataclass
class DatasetChoice:
    """One dataset of a job: all of it, ``num_samples`` rows, or a ``ratio`` of the mix."""

    dataset: object
    num_samples: int | None = None
    ratio: float | None = None
    placeholders: dict | None = None


def device_count(devices: str) -> int:
    """How many devices (trainer processes) a valid ``devices`` value asks for."""
    if devices == "cpu" or devices == "auto":
        return 1
    if devices.startswith("auto:"):
        return int(devices[len("auto:") :])
    return len(set(devices.split(",")))


def _budget_error(org, devices: str) -> str | None:
    """A GPU job can never start in an organization whose monthly GPU budget is zero: refused at create.
    (A budget merely used up makes the job wait for next month instead; the scheduler says so.)"""
    if devices != "cpu" and org.monthly_gpu_hours is not None and org.monthly_gpu_hours <= 0:
        return "your organization has no GPU-hour budget: use 'cpu', or ask an operator for a budget"
    return None


def _devices_error(devices: str) -> str | None:
    """Refused at once rather than waited on forever: GPU ids the fleet does not have. ``cpu`` and
    ``auto`` wait for a worker as they always did (the job's page says what it waits for)."""
    if not DEVICES_PATTERN.match(devices or ""):
        return "use 'cpu', 'auto', 'auto:N' or GPU ids like '0,1'"
    if devices == "cpu" or devices.startswith("auto"):
        return None
    return explicit_gpus_problem(sorted({int(part) for part in devices.split(",")}))


def _training_rows(datasets: list[DatasetChoice]) -> int:
    """The rows a job trains on at most: its counts (capped by each dataset's size), or whole datasets
    (a mix by shares is at most all of them)."""
    rows = 0
    for choice in datasets:
        available = choice.dataset.num_rows or 0
        rows += min(choice.num_samples, available) if choice.num_samples else available
    return rows


def with_evaluation_default(hyperparameters: dict, stage: str, rows: int) -> dict:
    """``hyperparameters`` with the held-out share a job gets when it names none: DEFAULT_VAL_SHARE of its
    ``rows``, at most DEFAULT_HELD_OUT_ROWS of them, when generation evaluation is on (the default) and the
    stage generates answers. The same default for the portal, the API and Bisheng's API."""
    if hyperparameters.get("val_ratio") not in (None, ""):
        return hyperparameters
    generation = hyperparameters.get("do_eval_generation", Hyperparameters.do_eval_generation)
    if generation in (False, "false", "False", "0", 0) or stage == "pt" or rows < MIN_ROWS_TO_HOLD_OUT:
        return {key: value for key, value in hyperparameters.items() if key != "val_ratio"}
    share = min(DEFAULT_VAL_SHARE, DEFAULT_HELD_OUT_ROWS / rows)
    return {**hyperparameters, "val_ratio": float(f"{share:.6g}")}


def evaluation_plan(job: TrainingJob) -> str:
    """What a job will be scored on after training, or why nothing (the API's answer and the job page)."""
    hp = job.hyperparameters or {}
    if not float(hp.get("val_ratio") or 0):
        return "none: no rows are held out (val_ratio is 0), so the job finishes without evaluation scores"
    what = (
        "BLEU/ROUGE of generated answers"
        if hp.get("do_eval_generation", True) and job.stage != "pt"
        else "loss"
    )
    return f"{what} on {float(hp['val_ratio']) * 100:.3g}% of the rows, held out from training"


def validate_job_request(
    org,
    *,
    name: str,
    base_model,
    stage: str,
    method: str,
    datasets: list[DatasetChoice],
    hyperparameters: dict,
    devices: str,
    seed: int = 42,
) -> tuple[Hyperparameters, dict]:
    """Every check a new job must pass, all reported at once as ``{field: message}``: ranges of the
    hyperparameters (limits.BOUNDS), the size of the run for its data, and the devices the fleet has."""
    errors: dict[str, str] = {}
    if not name or not re.fullmatch(r"[A-Za-z0-9_-]{1,50}", name):
        errors["name"] = "use at most 50 letters, digits, '-' and '_'"
    elif TrainingJob.objects.filter(organization=org, name=name).exists():
        errors["name"] = f"a job named {name!r} already exists in this organization"
    if stage not in STAGES:
        errors["stage"] = "must be one of " + ", ".join(STAGES)
    if method not in METHODS:
        errors["method"] = "must be one of " + ", ".join(METHODS)
    if base_model is None or not scoped(BaseModel.objects.all(), org).filter(pk=base_model.pk).exists():
        errors["base_model"] = "no such base model for this organization"
    elif not base_model.is_valid:
        problem = hide_server_paths(base_model.validation_error, base_model)
        errors["base_model"] = f"{base_model.name} failed validation: {problem}"
    device_problem = _devices_error(devices) or _budget_error(org, devices)
    if device_problem:
        errors["devices"] = device_problem
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_BOUND.contains(seed):
        errors["seed"] = f"must be a whole number {SEED_BOUND.words()}"
    dataset_errors = _dataset_errors(org, stage, datasets)
    errors.update(dataset_errors)
    if not dataset_errors:
        hyperparameters = with_evaluation_default(hyperparameters, stage, _training_rows(datasets))
    hp = Hyperparameters.from_dict(hyperparameters)
    hp_errors = hp.validate(method if method in METHODS else None)
    for field, message in hp_errors:
        errors.setdefault(field, message)
    if not hp_errors and not dataset_errors and "devices" not in errors:
        for field, message in run_size_errors(hp, _training_rows(datasets), device_count(devices)):
            errors.setdefault(field, message)
    if stage == "kto" and hp.per_device_train_batch_size < 2:
        errors.setdefault("per_device_train_batch_size", "KTO compares answers within a batch: use 2 or more")
    caps = capabilities()
    wants_gpu = devices != "cpu"
    for field, message in environment_errors(
        hp,
        method,
        cuda_available=caps["cuda"] and wants_gpu,
        bitsandbytes_available=caps["bitsandbytes"],
    ):
        errors.setdefault(field, message)
    if errors:
        raise DomainError(
            "The job cannot be created: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors
        )
    return hp, caps


def _dataset_errors(org, stage: str, datasets: list[DatasetChoice]) -> dict[str, str]:
    from datasets_app.models import Dataset, DatasetStatus

    if not datasets:
        return {"datasets": "choose at least one dataset"}
    visible = scoped(Dataset.objects.all(), org)
    wanted_kind = KIND_FOR_STAGE.get(stage)
    for index, choice in enumerate(datasets):
        where = f"datasets[{index}]"
        dataset = choice.dataset
        if dataset is None or not visible.filter(pk=dataset.pk).exists():
            return {where: "no such dataset in this organization"}
        if dataset.status != DatasetStatus.READY:
            return {where: f"{dataset.name} is {dataset.status}, not ready"}
        if wanted_kind and dataset.kind != wanted_kind:
            return {where: _kind_mismatch(dataset, stage, wanted_kind)}
        unfilled = _unfilled_placeholders(dataset, choice.placeholders)
        if unfilled:
            return {where: unfilled}
        if choice.num_samples is not None and choice.num_samples < 1:
            return {where: "num_samples must be at least 1"}
        if choice.ratio is not None and not 0 < choice.ratio <= 1:
            return {where: "ratio must be above 0 and at most 1"}
    return {}


def _kind_mismatch(dataset, stage: str, wanted_kind: str) -> str:
    message = f"{dataset.name} holds {dataset.kind} rows; the {stage} stage needs {wanted_kind}"
    if dataset.kind == "kto":
        # Training on these as plain conversations would teach the undesirable answers too.
        message += " (its answers carry true/false labels, unpaired preferences: train it with the kto stage)"
    return message


def _unfilled_placeholders(dataset, values: dict | None) -> str:
    """Why a dataset with {{name}}/{{author}} cannot be trained on with these values ('' when it can)."""
    if not dataset.has_placeholders:
        return ""
    names = dataset.stats.get("placeholders") or list(FILLED_BY_JOB)
    missing = [name for name in names if not str((values or {}).get(name, "")).strip()]
    if not missing:
        return ""
    asked = " and ".join(f"{FILLED_BY_JOB.get(name, name)} ({{{{{name}}}}})" for name in missing)
    return f"{dataset.name} contains placeholders: give {asked}, or the model would learn them literally"


def create_job(
    org,
    user,
    *,
    name: str,
    base_model,
    datasets: list[DatasetChoice],
    stage: str = "sft",
    method: str = "lora",
    hyperparameters: dict | None = None,
    devices: str = "cpu",
    seed: int = 42,
    priority: int = 0,
    api_options: dict | None = None,
) -> TrainingJob:
    """Validate, save the job as queued, and hand it to the scheduler once the row is committed."""
    hp, _caps = validate_job_request(
        org,
        name=name,
        base_model=base_model,
        stage=stage,
        method=method,
        datasets=datasets,
        hyperparameters=hyperparameters or {},
        devices=devices,
        seed=seed,
    )
    try:
        with transaction.atomic():
            job = TrainingJob.objects.create(
                organization=org,
                created_by=user if getattr(user, "pk", None) else None,
                name=name,
                base_model=base_model,
                stage=stage,
                method=method,
                hyperparameters=hp.to_dict(),
                devices=devices,
                seed=seed,
                priority=priority,
                api_options=api_options or {},
            )
            for choice in datasets:
                JobDataset.objects.create(
                    job=job,
                    dataset=choice.dataset,
                    dataset_name=choice.dataset.name,
                    num_samples=choice.num_samples,
                    ratio=choice.ratio,
                    dataset_sha256=choice.dataset.sha256,
                    placeholders=choice.placeholders or {},
                )
            from training_app.events import record_event

            record_event(job.pk, "status", {"from": None, "to": JobStatus.QUEUED, "reason": "created"})
            record(org, "job.create", job, summary=f"{stage}/{method} on {base_model}, devices {devices}")
            _schedule_on_commit(job)
    except IntegrityError as exc:
        raise DomainError(f"A job named {name!r} already exists.", fields={"name": "already exists"}) from exc
    return job


def _schedule_on_commit(job: TrainingJob) -> None:
    transaction.on_commit(lambda: schedule(job.pk))


def _stop_placement_on_commit(job: TrainingJob) -> None:
    """A job stopped before it ran (cancelled or paused while queued) gives up its place; a running job's
    runner frees its devices itself, once the trainer is gone, so they are not handed out too early."""
    if job.previous_status != JobStatus.RUNNING:
        transaction.on_commit(lambda: job_stopped(job.pk))


def cancel_job(job: TrainingJob, reason: str = "cancelled by a user") -> TrainingJob:
    """Queued jobs stop at once; a running job's runner sees the status, kills the trainer's process
    group and frees its devices itself (so they are not handed out while the trainer still runs)."""
    job = transition(job, JobStatus.CANCELLED, reason=reason)
    record(job.organization, "job.cancel", job, summary=f"{job.previous_status} -> cancelled")
    _stop_placement_on_commit(job)
    return job


def pause_job(job: TrainingJob) -> TrainingJob:
    """Queued or running -> paused. A running job's runner stops the trainer and frees its devices (its
    checkpoints stay); :func:`resume_job` continues from the newest one."""
    job = transition(job, JobStatus.PAUSED, reason="paused by a user")
    record(job.organization, "job.pause", job, summary=f"{job.previous_status} -> paused")
    _stop_placement_on_commit(job)
    return job


def resume_job(job: TrainingJob) -> TrainingJob:
    """Paused -> queued; the runner resumes from the newest checkpoint."""
    if job.status != JobStatus.PAUSED:
        raise Conflict(f"Cannot resume a job that is {job.status}: only a paused job resumes.")
    job = transition(job, JobStatus.QUEUED, reason="resumed", expect={"status": JobStatus.PAUSED})
    record(job.organization, "job.resume", job, summary="paused -> queued")
    _schedule_on_commit(job)
    return job


def _deleted_datasets(job: TrainingJob) -> list[str]:
    return sorted(job.job_datasets.filter(dataset__isnull=True).values_list("dataset_name", flat=True))


def retry_job(job: TrainingJob) -> TrainingJob:
    """Failed or cancelled -> queued; the runner resumes from the newest checkpoint when there is one."""
    gone = _deleted_datasets(job)
    if gone:
        raise Conflict(
            f"Its training data was deleted ({', '.join(gone)}): create a new job with other datasets."
        )
    job = transition(job, JobStatus.QUEUED, reason="retried", error="")
    record(job.organization, "job.retry", job, summary=f"{job.previous_status} -> queued")
    _schedule_on_commit(job)
    return job


def rename_job(job: TrainingJob, new_name: str) -> TrainingJob:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,50}", new_name or ""):
        raise DomainError("Invalid name.", fields={"name": "use at most 50 letters, digits, '-' and '_'"})
    if TrainingJob.objects.filter(organization=job.organization, name=new_name).exclude(pk=job.pk).exists():
        raise DomainError("Name taken.", fields={"name": f"a job named {new_name!r} already exists"})
    TrainingJob.objects.filter(pk=job.pk).update(name=new_name)
    record(job.organization, "job.rename", job, summary=f"name: {job.name} -> {new_name}")
    job.name = new_name
    return job


def delete_job(job: TrainingJob) -> None:
    """Refused while running, queued or published; removes the job's stored artifacts too."""
    if job.status in (*ACTIVE_STATUSES, JobStatus.PUBLISHED):
        raise Conflict(f"Cannot delete a job that is {job.status}: cancel or unpublish it first.")
    from training_app.artifacts import delete_artifacts, job_prefix

    prefix = job.artifacts_prefix or job_prefix(job)  # stored checkpoints too, for a job that never finished
    with transaction.atomic():
        deleted, _ = (
            TrainingJob.objects.filter(pk=job.pk)
            .exclude(status__in=[*ACTIVE_STATUSES, JobStatus.PUBLISHED])
            .delete()
        )
        if not deleted:
            raise Conflict("The job changed state meanwhile; try again.")
        record(job.organization, "job.delete", job, summary=job.status)
    if prefix:
        delete_artifacts(prefix)


def clone_job(job: TrainingJob, user, new_name: str) -> TrainingJob:
    """A new queued job with the same model, data and settings."""
    gone = _deleted_datasets(job)
    if gone:
        raise DomainError(
            f"Its training data was deleted ({', '.join(gone)}): create a new job with other datasets.",
            fields={"datasets": f"deleted: {', '.join(gone)}"},
        )
    return create_job(
        job.organization,
        user,
        name=new_name,
        base_model=job.base_model,
        stage=job.stage,
        method=job.method,
        hyperparameters=job.hyperparameters,
        devices=job.devices,
        seed=job.seed,
        priority=job.priority,
        datasets=[
            DatasetChoice(jd.dataset, jd.num_samples, jd.ratio, jd.placeholders)
            for jd in job.job_datasets.select_related("dataset")
        ],
    )
