from __future__ import annotations

from rest_framework import serializers

from llm_platform.input_guard import COLUMN_INT_MAX
from training_app.models import BaseModel, JobDataset, JobEvent, TrainingJob
from training_app.services import evaluation_plan
from training_app.trainer.limits import (
    MAX_CHECKPOINTS,
    MAX_EVALUATIONS,
    MAX_LOG_POINTS,
    MAX_TOTAL_STEPS,
    MAX_TRAINING_TOKENS,
    SEED_BOUND,
)
from training_app.trainer.spec import HELP, METHODS, STAGES

HYPERPARAMETERS_HELP = (
    "Training settings by name; each is optional (LLaMA-Factory's defaults) and refused with its name"
    " when outside its range. A run is also refused when, for its data, it would take more than"
    f" {MAX_TOTAL_STEPS:,} optimizer steps (rows x epochs / (batch x accumulation x devices)),"
    f" {MAX_TRAINING_TOKENS:,} tokens, {MAX_CHECKPOINTS:,} checkpoints, {MAX_EVALUATIONS:,} evaluations"
    f" or {MAX_LOG_POINTS:,} logged steps.\n" + "\n".join(f"- {name}: {text}" for name, text in HELP.items())
)
DEVICES_HELP = (
    "'cpu', 'auto' (one GPU), 'auto:N' (N GPUs of one host), or GPU ids like '0,1' (of one host). Ids the"
    " fleet has never registered are refused, with the known ones; 'cpu' and 'auto' wait for a worker."
)


class BaseModelSerializer(serializers.ModelSerializer):
    """``path`` (the directory on the servers) is shown to operators (staff) only: null for everyone else."""

    path = serializers.SerializerMethodField(
        help_text="The model's directory on the servers; staff only, else null."
    )

    class Meta:
        model = BaseModel
        fields = [
            "id",
            "name",
            "path",
            "hub_id",
            "architecture",
            "parameter_count",
            "context_length",
            "chat_template_source",
            "chat_template_name",
            "trust_remote_code",
            "enabled_for_all",
            "root_base",
            "source_job",
            "is_valid",
            "created_at",
        ]
        read_only_fields = fields

    def get_path(self, model: BaseModel) -> str | None:
        request = self.context.get("request")
        staff = request is not None and getattr(request.user, "is_staff", False)
        return model.path if staff else None


class JobDatasetSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True, help_text="The dataset's name (kept if it was deleted).")
    dataset = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="null once the dataset is deleted."
    )

    class Meta:
        model = JobDataset
        fields = ["dataset", "name", "num_samples", "ratio", "dataset_sha256", "placeholders"]


class TrainingJobSerializer(serializers.ModelSerializer):
    base_model_name = serializers.CharField(source="base_model.name", read_only=True)
    datasets = JobDatasetSerializer(source="job_datasets", many=True, read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    evaluation = serializers.SerializerMethodField(
        help_text="What the job will be scored on after training, or why it will not be."
    )

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "uid",
            "name",
            "status",
            "base_model",
            "base_model_name",
            "stage",
            "method",
            "datasets",
            "hyperparameters",
            "devices",
            "seed",
            "priority",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "current_step",
            "total_steps",
            "last_checkpoint_step",
            "last_seq",
            "artifacts",
            "report",
            "error",
            "worker",
            "evaluation",
        ]
        read_only_fields = fields

    def get_evaluation(self, job: TrainingJob) -> str:
        return evaluation_plan(job)


class TrainingJobDetailSerializer(TrainingJobSerializer):
    """One job: also why it waits, if it is queued (a few queries: not on every row of a list)."""

    waiting_for = serializers.SerializerMethodField(
        help_text="Why a queued job has not started (no such devices, quota, busy devices), or why a running "
        "job waits for a worker (its worker stopped answering); null otherwise."
    )

    class Meta(TrainingJobSerializer.Meta):
        fields = [*TrainingJobSerializer.Meta.fields, "waiting_for"]
        read_only_fields = fields

    def get_waiting_for(self, job: TrainingJob) -> str | None:
        from gpu_workers.scheduler import waiting_reason

        return waiting_reason(job)


class DatasetChoiceSerializer(serializers.Serializer):
    dataset = serializers.CharField(help_text="Dataset id, uid, or a dataset:// url from the file upload.")
    num_samples = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=COLUMN_INT_MAX
    )
    ratio = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    placeholders = serializers.DictField(child=serializers.CharField(), required=False)


class JobCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    base_model = serializers.CharField(help_text="Base model id or name.")
    stage = serializers.ChoiceField(choices=STAGES, default="sft")
    method = serializers.ChoiceField(choices=METHODS, default="lora")
    datasets = DatasetChoiceSerializer(many=True)
    hyperparameters = serializers.DictField(required=False, default=dict, help_text=HYPERPARAMETERS_HELP)
    devices = serializers.CharField(default="cpu", help_text=DEVICES_HELP)
    seed = serializers.IntegerField(
        default=42,
        min_value=SEED_BOUND.low,
        max_value=SEED_BOUND.high,
        help_text=f"Seeds the data split and training; {SEED_BOUND.words()}.",
    )
    priority = serializers.IntegerField(default=0, min_value=-100, max_value=100)


class RenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ["seq", "type", "level", "created_at", "payload"]
