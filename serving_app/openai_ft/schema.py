"""The OpenAPI description of the objects ``objects.py`` builds (OpenAI's shapes), for drf-spectacular."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers as s


def _nullable(field_class, **kwargs):
    return field_class(allow_null=True, required=False, **kwargs)


FILE = inline_serializer(
    "OpenAIFile",
    {
        "id": s.CharField(),
        "object": s.CharField(help_text="file"),
        "bytes": s.IntegerField(),
        "created_at": s.IntegerField(),
        "filename": s.CharField(),
        "purpose": s.ChoiceField(["fine-tune", "fine-tune-results"]),
        "status": s.ChoiceField(["uploaded", "processed", "error"]),
        "status_details": _nullable(s.CharField),
        "expires_at": _nullable(s.IntegerField),
    },
)
DELETED_FILE = inline_serializer(
    "OpenAIFileDeleted",
    {"id": s.CharField(), "object": s.CharField(help_text="file"), "deleted": s.BooleanField()},
)

HYPERPARAMETERS = {
    "n_epochs": s.IntegerField(required=False),
    "batch_size": s.IntegerField(required=False),
    "learning_rate_multiplier": s.FloatField(required=False),
}
JOB = inline_serializer(
    "OpenAIFineTuningJob",
    {
        "id": s.CharField(),
        "object": s.CharField(help_text="fine_tuning.job"),
        "created_at": s.IntegerField(),
        "finished_at": _nullable(s.IntegerField),
        "model": s.CharField(),
        "organization_id": s.CharField(),
        "status": s.ChoiceField(["queued", "running", "paused", "succeeded", "failed", "cancelled"]),
        "fine_tuned_model": _nullable(s.CharField),
        "trained_tokens": _nullable(s.IntegerField),
        "estimated_finish": _nullable(s.IntegerField),
        "training_file": _nullable(s.CharField),
        "validation_file": _nullable(s.CharField),
        "result_files": s.ListField(child=s.CharField()),
        "hyperparameters": inline_serializer("OpenAIHyperparameters", HYPERPARAMETERS),
        "method": inline_serializer(
            "OpenAIMethod",
            {
                "type": s.ChoiceField(["supervised", "dpo"]),
                "supervised": s.DictField(required=False),
                "dpo": s.DictField(required=False),
            },
        ),
        "metadata": _nullable(s.DictField, child=s.CharField()),
        "seed": s.IntegerField(),
        "error": inline_serializer(
            "OpenAIJobError",
            {"code": s.CharField(), "message": s.CharField(), "param": _nullable(s.CharField)},
            allow_null=True,
        ),
        "integrations": _nullable(s.ListField),
        "user_provided_suffix": _nullable(s.CharField),
    },
)
EVENT = inline_serializer(
    "OpenAIFineTuningJobEvent",
    {
        "id": s.CharField(),
        "object": s.CharField(help_text="fine_tuning.job.event"),
        "created_at": s.IntegerField(),
        "level": s.ChoiceField(["info", "warn", "error"]),
        "message": s.CharField(allow_blank=True),
        "data": _nullable(s.DictField),
        "type": s.ChoiceField(["message", "metrics"]),
    },
)
CHECKPOINT = inline_serializer(
    "OpenAIFineTuningJobCheckpoint",
    {
        "id": s.CharField(),
        "object": s.CharField(help_text="fine_tuning.job.checkpoint"),
        "created_at": s.IntegerField(),
        "fine_tuned_model_checkpoint": s.CharField(),
        "fine_tuning_job_id": s.CharField(),
        "step_number": s.IntegerField(),
        "metrics": s.DictField(),
    },
)


def listing(name: str, item) -> object:
    return inline_serializer(
        name,
        {
            "object": s.CharField(help_text="list"),
            "data": item.__class__(many=True),
            "has_more": s.BooleanField(),
            "first_id": _nullable(s.CharField),
            "last_id": _nullable(s.CharField),
        },
    )


FILES = listing("OpenAIFileList", FILE)
JOBS = listing("OpenAIFineTuningJobList", JOB)
EVENTS = listing("OpenAIFineTuningJobEventList", EVENT)
CHECKPOINTS = listing("OpenAIFineTuningJobCheckpointList", CHECKPOINT)
