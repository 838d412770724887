"""Base models, training jobs, the datasets a job uses, and the append-only events of a run."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from training_app.trainer.spec import METHODS, STAGES

JOB_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9_-]{1,50}$", "Use at most 50 letters, digits, '-' and '_' (no spaces)."
)

STAGE_CHOICES = [(stage, stage.upper()) for stage in STAGES]


class ChatTemplateSource(models.TextChoices):
    TOKENIZER = "tokenizer", "From the tokenizer"
    NAMED = "named", "Named template"
    CUSTOM = "custom", "Custom Jinja template"


TEST_MODEL_PARAMETERS = 10_000_000  # no real language model is this small


class BaseModel(models.Model):
    """A model jobs start from: a directory under MODEL_ROOTS, a hub id, or a fine-tuned job's output."""

    name = models.CharField(max_length=200, unique=True)
    path = models.CharField(max_length=500, blank=True, help_text="A directory under one of MODEL_ROOTS.")
    hub_id = models.CharField(
        max_length=200, blank=True, help_text="Only where the machine has the internet."
    )
    architecture = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(null=True, blank=True)
    context_length = models.PositiveIntegerField(null=True, blank=True)
    chat_template_source = models.CharField(
        max_length=10, choices=ChatTemplateSource.choices, default=ChatTemplateSource.TOKENIZER
    )
    chat_template_name = models.CharField(max_length=20, blank=True, help_text="qwen, llama3, chatml, alpaca")
    chat_template = models.TextField(blank=True, help_text="A custom Jinja chat template.")
    trust_remote_code = models.BooleanField(
        default=False, help_text="Runs Python shipped with the model. Operators only."
    )
    enabled_for_all = models.BooleanField(default=True, help_text="Every organization may train on it.")
    enabled_orgs = models.ManyToManyField("llm_platform.Organization", blank=True, related_name="+")
    organization = models.ForeignKey(
        "llm_platform.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="own_base_models",
        help_text="Set for a fine-tuned model registered as a base: only its organization sees it.",
    )
    source_job = models.ForeignKey(
        "TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_base_models"
    )
    root_base = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="descendants",
        help_text="The original base model a fine-tuned base descends from.",
    )
    is_valid = models.BooleanField(default=False)
    validation_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def visible_to(cls, org) -> Q:
        shared = Q(organization__isnull=True) & (Q(enabled_for_all=True) | Q(enabled_orgs=org))
        return Q(organization=org) | shared

    @property
    def source(self) -> str:
        return self.path or self.hub_id

    @property
    def is_test_model(self) -> bool:
        """A toy for trying the platform (the demo's tiny model, or one trained from it): pages say so, lest
        its answers be taken for what fine-tuning gives a real model."""
        return self.parameter_count is not None and self.parameter_count < TEST_MODEL_PARAMETERS


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    PUBLISHED = "published", "Published"
    PAUSED = "paused", "Paused"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class TrainingJob(models.Model):
    organization = models.ForeignKey(
        "llm_platform.Organization", on_delete=models.CASCADE, related_name="jobs"
    )
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=50, validators=[JOB_NAME_VALIDATOR])
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="jobs")
    stage = models.CharField(max_length=5, choices=STAGE_CHOICES, default="sft")
    method = models.CharField(max_length=10, choices=[(m, m) for m in METHODS], default="lora")
    hyperparameters = models.JSONField(default=dict, blank=True)
    devices = models.CharField(
        max_length=50, default="cpu", help_text="'cpu', 'auto' or 'auto:N' (N GPUs), or GPU ids like '0,1'."
    )
    seed = models.IntegerField(default=42)
    priority = models.IntegerField(default=0, help_text="Higher runs first among queued jobs.")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(default=timezone.now)
    placed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the scheduler leased devices and enqueued it (cleared on requeue).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    last_checkpoint_step = models.PositiveIntegerField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0, help_text="Sequence number of the newest event.")

    artifacts_prefix = models.CharField(
        max_length=500, blank=True, help_text="Where outputs live in storage."
    )
    artifacts = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    base_report = models.JSONField(
        default=dict, blank=True, help_text="The same evaluation on the base model."
    )
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    rq_job_id = models.CharField(max_length=100, blank=True)
    api_options = models.JSONField(
        default=dict,
        blank=True,
        help_text="What an API client asked for in its own terms (OpenAI's suffix, metadata, 'auto').",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="unique_job_name_per_org")
        ]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["status", "priority"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class JobDataset(models.Model):
    """A dataset a job trains on, with how much of it, and the version (hash) it used."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="job_datasets")
    # A finished job's dataset may be deleted: the record keeps its name and version (hash).
    dataset = models.ForeignKey(
        "datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="job_uses"
    )
    dataset_name = models.CharField(
        max_length=200, blank=True, help_text="The dataset's name at job creation."
    )
    num_samples = models.PositiveIntegerField(null=True, blank=True)
    ratio = models.FloatField(null=True, blank=True, help_text="Share of the mix, 0-1.")
    dataset_sha256 = models.CharField(max_length=64, blank=True)
    placeholders = models.JSONField(default=dict, blank=True, help_text="{{name}}/{{author}} values.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} in {self.job}"

    @property
    def name(self) -> str:
        return self.dataset.name if self.dataset is not None else self.dataset_name

    @property
    def shown_name(self) -> str:
        """For pages: says when the dataset is gone."""
        return self.name if self.dataset is not None else f"{self.dataset_name} (deleted)"


class JobEvent(models.Model):
    """Append-only: every log line, metric, progress, checkpoint, status change and report of a job."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=12)
    level = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="unique_event_seq")]
        indexes = [models.Index(fields=["job", "type", "seq"])]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq} {self.type}"
