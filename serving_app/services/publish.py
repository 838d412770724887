"""Publishing: a succeeded job, one of its checkpoints, or a base model becomes a Deployment.

The service decides where it runs (which Engine row): LoRA adapters and base models share one engine per
base model and device; full and freeze fine-tunes get an engine of their own. The serving supervisor then
makes the process match (starts it, loads the adapter) and marks the deployment ready.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from llm_platform.audit import record
from llm_platform.errors import Conflict, DomainError, NotFound
from llm_platform.tenancy import scoped
from serving_app.conf import default_engine_kind as configured_engine_kind
from serving_app.conf import vllm_python
from serving_app.engine.flags import device_error
from serving_app.models import (
    SERVED_NAME_VALIDATOR,
    Deployment,
    DeploymentSource,
    DeploymentStatus,
    Engine,
    EngineKind,
    EngineStatus,
)
from serving_app.services.lifecycle import sync_job_status
from training_app.base_models import hide_server_paths
from training_app.models import BaseModel, JobEvent, JobStatus, TrainingJob

ADAPTER_METHODS = ("lora", "qlora")
ACTIVE = (DeploymentStatus.STARTING, DeploymentStatus.READY)
# Checkpoint files an engine never reads: optimizer and scheduler state, RNG state, Trainer bookkeeping.
CHECKPOINT_SKIP = ("optimizer", "scheduler", "rng_state", "training_args", "trainer_state")


def resolve_engine_kind(requested: str | None, *, joins: BaseModel | None = None, device: str = "") -> str:
    """The engine kind to use; "auto" joins an engine already serving ``joins`` on ``device``, if any."""
    kind = requested or "auto"
    if kind == "auto":
        running = (
            Engine.objects.filter(base_model=joins, device=device, deployments__status__in=ACTIVE)
            .values_list("kind", flat=True)
            .first()
            if joins is not None
            else None
        )
        return running or configured_engine_kind()
    if kind not in EngineKind.values:
        raise DomainError("Unknown engine.", fields={"engine": "one of auto, vllm, builtin"})
    if kind == EngineKind.VLLM and not vllm_python():
        raise DomainError(
            "vLLM is not installed on this platform (an operator runs `make vllm`); use the built-in engine.",
            fields={"engine": "vLLM is not installed here; choose builtin or auto"},
        )
    return kind


def default_name(job: TrainingJob | None, checkpoint_step: int | None, base_model: BaseModel | None) -> str:
    if job is not None:
        return job.name if checkpoint_step is None else f"{job.name}-step{checkpoint_step}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base_model.name).strip("-._")[:64] or "base"


def checkpoint_dir(job: TrainingJob, step: int) -> Path:
    """Where the worker that trained ``job`` keeps a checkpoint (checkpoints stay on its disk)."""
    return Path(settings.WORK_DIR) / "jobs" / str(job.uid) / "output" / f"checkpoint-{step}"


def _job_errors(job: TrainingJob, checkpoint_step: int | None, kind: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    hp = job.hyperparameters or {}
    if checkpoint_step is None:
        if job.status == JobStatus.PUBLISHED or job.deployments.filter(source=DeploymentSource.JOB).exists():
            existing = job.deployments.filter(source=DeploymentSource.JOB).first()
            raise Conflict(
                f"{job.name} is already published as {existing.name if existing else 'a deployment'}; "
                "unpublish it first.",
                fields={"job": "already published"},
            )
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(
                f"Only a succeeded job can be published; {job.name} is {job.status}.",
                fields={"job": f"the job is {job.status}"},
            )
        if not (job.artifacts or {}).get("files"):
            errors["job"] = "the job has no stored output to serve"
    else:
        steps = JobEvent.objects.filter(job=job, type="checkpoint").values_list("payload__step", flat=True)
        if checkpoint_step not in {int(s) for s in steps if s is not None}:
            errors["checkpoint_step"] = f"{job.name} has no checkpoint at step {checkpoint_step}"
        elif not checkpoint_dir(job, checkpoint_step).is_dir():
            errors["checkpoint_step"] = (
                f"checkpoint-{checkpoint_step} is not on this machine's disk: checkpoints stay on the worker "
                "that trained the job; publish the finished job instead"
            )
    if job.method in ADAPTER_METHODS and kind == EngineKind.VLLM:
        rank = int(hp.get("lora_rank", 8))
        if hp.get("use_dora"):
            errors["engine"] = "vLLM cannot serve DoRA adapters; choose the built-in engine"
        elif rank > settings.SERVING_MAX_LORA_RANK:
            errors["engine"] = (
                f"the adapter has LoRA rank {rank} but engines allow at most {settings.SERVING_MAX_LORA_RANK} "
                "(an operator raises SERVING_MAX_LORA_RANK), or choose the built-in engine"
            )
    return errors


def _place(
    kind: str, device: str, base_model: BaseModel, *, shared: bool, uid: uuid.UUID, label: str
) -> Engine:
    """The engine a new deployment goes to: the base model's shared one, or a new one of its own."""
    if shared:
        key = f"{kind}:{device}:base:{base_model.pk}"
        defaults = {"model_name": f"base-{base_model.pk}", "enable_lora": True}
    else:
        key = f"{kind}:{device}:deployment:{uid.hex}"
        defaults = {"model_name": label, "enable_lora": False}
    engine, _ = Engine.objects.get_or_create(
        key=key,
        defaults={"kind": kind, "device": device, "base_model": base_model if shared else None, **defaults},
    )
    # A new deployment is worth another try on an engine that gave up after too many crashes.
    Engine.objects.filter(pk=engine.pk, status=EngineStatus.FAILED).update(
        status=EngineStatus.STOPPED, restarts=0, error=""
    )
    return engine


def publish(
    org,
    user=None,
    *,
    name: str = "",
    job: TrainingJob | None = None,
    checkpoint_step: int | None = None,
    base_model: BaseModel | None = None,
    engine: str | None = "auto",
    device: str | None = None,
) -> Deployment:
    """Validate, then save a starting Deployment on the right engine; the supervisor does the rest."""
    if (job is None) == (base_model is None):
        raise DomainError(
            "Publish either a job or a base model.", fields={"job": "give a job or a base model"}
        )
    if job is not None and job.organization_id != org.pk:
        raise NotFound("No such job.")
    if base_model is not None and not scoped(BaseModel.objects.all(), org).filter(pk=base_model.pk).exists():
        raise NotFound("No such base model.")
    if checkpoint_step is not None and job is None:
        raise DomainError("A checkpoint belongs to a job.", fields={"checkpoint_step": "give the job too"})
    device = device or settings.SERVING_DEVICE
    base = job.base_model if job is not None else base_model
    is_adapter = job is not None and job.method in ADAPTER_METHODS
    shared = job is None or is_adapter
    kind = resolve_engine_kind(engine, joins=base if shared else None, device=device)
    errors = _job_errors(job, checkpoint_step, kind) if job is not None else {}
    if not base.is_valid:
        problem = hide_server_paths(base.validation_error, base)
        errors["base_model"] = f"{base.name} failed validation: {problem}"
    if device_error(device):
        errors["device"] = device_error(device)
    name = (name or "").strip() or default_name(job, checkpoint_step, base_model)
    try:
        SERVED_NAME_VALIDATOR(name)
    except Exception:  # noqa: BLE001 - a ValidationError; its message is in SERVED_NAME_VALIDATOR
        errors["name"] = SERVED_NAME_VALIDATOR.message
    else:
        if Deployment.objects.filter(organization=org, name=name).exists():
            errors["name"] = f"a deployment named {name!r} already exists in this organization"
    if errors:
        raise DomainError(
            "Cannot publish: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors
        )

    source = DeploymentSource.BASE if job is None else DeploymentSource.JOB
    if checkpoint_step is not None:
        source = DeploymentSource.CHECKPOINT
    uid = uuid.uuid4()
    label = f"org{org.pk}/{name}-{uid.hex[:8]}"  # namespaced: the engine's name, never shown to others
    artifacts = _artifacts(job, checkpoint_step, org, uid)
    try:
        with transaction.atomic():
            target = _place(kind, device, base, shared=shared, uid=uid, label=label)
            deployment = Deployment.objects.create(
                organization=org,
                uid=uid,
                name=name,
                source=source,
                job=job,
                checkpoint_step=checkpoint_step,
                base_model=base,
                engine=target,
                is_adapter=is_adapter,
                engine_name=label if (is_adapter or job is not None) else target.model_name,
                artifacts=artifacts,
                created_by=user if getattr(user, "pk", None) else None,
            )
            record(org, "deployment.publish", deployment, summary=f"{source} on {target.kind} ({device})")
    except IntegrityError as exc:
        raise DomainError(
            f"A deployment named {name!r} already exists in this organization.",
            fields={"name": "already used in this organization"},
        ) from exc
    return deployment


def _artifacts(job: TrainingJob | None, checkpoint_step: int | None, org, uid: uuid.UUID) -> dict:
    """What the engine needs from storage: the job's stored output, or the checkpoint copied there now."""
    if job is None:
        return {}
    if checkpoint_step is None:
        return {"files": list(job.artifacts["files"])}
    from training_app.artifacts import upload_directory

    files = upload_directory(
        checkpoint_dir(job, checkpoint_step), f"deployments/{org.pk}/{uid.hex}", skip=CHECKPOINT_SKIP
    )
    return {"files": files}


def unpublish(deployment: Deployment) -> None:
    """Remove the deployment; the supervisor unloads its adapter or stops its engine."""
    job_id = deployment.job_id if deployment.source == DeploymentSource.JOB else None
    prefix = f"deployments/{deployment.organization_id}/{deployment.uid.hex}"
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).delete()
        record(deployment.organization, "deployment.unpublish", deployment)
        if job_id is not None:
            sync_job_status(job_id)
    if deployment.source == DeploymentSource.CHECKPOINT:
        from training_app.artifacts import delete_artifacts

        delete_artifacts(prefix)  # the copy made at publish time; the job's own files stay
