"""Datasets: an uploaded file, its canonical normalised form, and what ingest learned about it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class DatasetStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DatasetKind(models.TextChoices):
    SFT = "sft", "Conversations (SFT)"
    PREFERENCE = "preference", "Preference pairs (DPO)"
    KTO = "kto", "Unpaired preference (KTO)"
    TEXT = "text", "Plain text (pre-training)"


class Dataset(models.Model):
    organization = models.ForeignKey(
        "llm_platform.Organization",
        on_delete=models.CASCADE,
        related_name="datasets",
        null=True,
        blank=True,
        help_text="Blank only for presets shipped with the platform.",
    )
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    status = models.CharField(max_length=12, choices=DatasetStatus.choices, default=DatasetStatus.UPLOADED)
    progress = models.FloatField(default=0.0, help_text="0 to 1 while processing in the background.")
    error_code = models.CharField(
        max_length=40, blank=True, help_text="Why processing failed, as a stable code (e.g. not_utf8)."
    )
    error_message = models.TextField(blank=True)

    original_filename = models.CharField(max_length=255)
    original_file = models.FileField(max_length=500, blank=True)
    normalised_file = models.FileField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the normalised file: its version.")

    requested_format = models.CharField(max_length=20, blank=True)
    format = models.CharField(max_length=20, blank=True, help_text="Detected (or requested) source format.")
    kind = models.CharField(max_length=12, choices=DatasetKind.choices, blank=True)
    options = models.JSONField(
        default=dict, blank=True, help_text="Cleaning options, policy, column mapping."
    )

    rows_in = models.PositiveIntegerField(default=0)
    num_rows = models.PositiveIntegerField(default=0, help_text="Rows kept after validation and cleaning.")
    stats = models.JSONField(default=dict, blank=True)
    row_errors = models.JSONField(default=list, blank=True, help_text="The first 100 row errors.")
    error_counts = models.JSONField(default=dict, blank=True)

    is_preset = models.BooleanField(
        default=False, help_text="Visible read-only to every organization (set by operators)."
    )
    preset_slug = models.SlugField(max_length=100, blank=True)
    has_placeholders = models.BooleanField(
        default=False, help_text="Contains {{name}}/{{author}} (found at upload), filled in by the job."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["preset_slug"], condition=~Q(preset_slug=""), name="unique_preset_slug"
            )
        ]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def visible_to(cls, org) -> Q:
        """An organization sees its own datasets and every preset (read-only)."""
        return Q(organization=org) | Q(is_preset=True)

    def writable_by(self, org) -> bool:
        return self.organization_id is not None and org is not None and self.organization_id == org.id


# Knowledge-base QA extraction keeps its models in its own module; importing them here registers them.
from .knowledge.models import (  # noqa: E402, F401
    Chunk,
    ExtractionRun,
    KnowledgeBase,
    KnowledgeDocument,
    KnowledgeExport,
    QAPair,
)
