"""Deployments (a published model of one organization), the engine processes serving them, and usage.

An Engine is shared infrastructure: one process per base model and device carries the LoRA adapters of
every organization, so it has no ``organization`` and tenants never see it. A Deployment is the tenant's
object: its ``name`` is what the organization calls the model; ``engine_name`` is the namespaced name the
engine knows it by, which never leaves the platform.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from serving_app.engine.flags import DTYPES, device_error, flag_errors

SERVED_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "Use 1-64 letters, digits, '.', '-' and '_', starting with a letter or digit.",
)


class EngineKind(models.TextChoices):
    VLLM = "vllm", "vLLM"
    BUILTIN = "builtin", "Built-in (transformers)"


class EngineStatus(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Engine(models.Model):
    """One engine process (vLLM or built-in), written by the serving supervisor."""

    key = models.CharField(max_length=200, unique=True, help_text="What it serves, on which device.")
    kind = models.CharField(max_length=10, choices=EngineKind.choices)
    device = models.CharField(max_length=10, default="cpu", help_text="'cpu' or a GPU index.")
    base_model = models.ForeignKey(
        "training.BaseModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="engines",
        help_text="Set for a shared engine that carries LoRA adapters of this base model.",
    )
    model_name = models.CharField(max_length=200, help_text="The name the engine serves its weights under.")
    enable_lora = models.BooleanField(default=False)
    # Flags an operator may override; empty means the SERVING_* default.
    max_model_len = models.PositiveIntegerField(null=True, blank=True)
    gpu_memory_utilization = models.FloatField(null=True, blank=True)
    dtype = models.CharField(max_length=10, blank=True, choices=[(d, d) for d in DTYPES])

    status = models.CharField(max_length=10, choices=EngineStatus.choices, default=EngineStatus.STOPPED)
    host = models.CharField(max_length=200, blank=True, help_text="The supervisor that runs it.")
    pid = models.PositiveIntegerField(null=True, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    base_url = models.CharField(max_length=300, blank=True)
    # A fresh secret per start, handed to the engine in its environment: engines listen on a local port,
    # and without it any local user could call them directly, past the gateway's tenancy.
    api_key = models.CharField(max_length=64, blank=True, editable=False)
    argv = models.JSONField(default=list, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    last_exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        errors = dict(
            flag_errors(
                max_model_len=self.max_model_len,
                gpu_memory_utilization=self.gpu_memory_utilization,
                dtype=self.dtype or "auto",
            )
        )
        problem = device_error(self.device)
        if problem:
            errors["device"] = problem
        if errors:
            raise ValidationError(errors)


class DeploymentStatus(models.TextChoices):
    STARTING = "starting", "Starting"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DeploymentSource(models.TextChoices):
    JOB = "job", "Fine-tuned job"
    CHECKPOINT = "checkpoint", "Checkpoint of a job"
    BASE = "base", "Base model"


class Deployment(models.Model):
    organization = models.ForeignKey(
        "llm_platform.Organization", on_delete=models.CASCADE, related_name="deployments"
    )
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, validators=[SERVED_NAME_VALIDATOR])
    source = models.CharField(max_length=10, choices=DeploymentSource.choices)
    job = models.ForeignKey(
        "training.TrainingJob", null=True, blank=True, on_delete=models.CASCADE, related_name="deployments"
    )
    checkpoint_step = models.PositiveIntegerField(null=True, blank=True)
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="deployments")
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="deployments")
    is_adapter = models.BooleanField(default=False)
    engine_name = models.CharField(max_length=200, help_text="The namespaced name inside the engine.")
    artifacts = models.JSONField(
        default=dict, blank=True, help_text="{'files': [{'path', 'name', 'size'}]} in storage."
    )
    status = models.CharField(
        max_length=10, choices=DeploymentStatus.choices, default=DeploymentStatus.STARTING
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="unique_served_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def engine_kind(self) -> str:
        return self.engine.kind


class Usage(models.Model):
    """Tokens and requests of one organization's model, per day."""

    organization = models.ForeignKey("llm_platform.Organization", on_delete=models.CASCADE, related_name="+")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage"
    )
    model = models.CharField(max_length=100, help_text="The name the model was called by.")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "model"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "model", "day"], name="unique_usage_per_day")
        ]
        verbose_name_plural = "usage"

    def __str__(self) -> str:
        return f"{self.model} on {self.day}"
