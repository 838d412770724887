"""Bisheng-compatible fine-tune job API (seed 000), answered in Bisheng's envelope.

Bisheng's status numbers: 1 training (our queued and running: see ``status_detail``), 2 failed,
3 cancelled, 4 success, 5 published. ``job_id`` is our job's uid (hex, as Bisheng's ids are) or its id.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from llm_platform.bisheng import BishengAPIView, envelope, reply_schema
from llm_platform.errors import DomainError, NotFound
from llm_platform.input_guard import COLUMN_INT_MAX, MAX_PAGE, as_id, whole_number
from llm_platform.tenancy import scoped
from training_app import services
from training_app.api.serializers import HYPERPARAMETERS_HELP
from training_app.api.views import resolve_base_model
from training_app.logs import format_event
from training_app.models import BaseModel, JobEvent, JobStatus, TrainingJob

BISHENG_STATUS = {
    JobStatus.QUEUED: 1,
    JobStatus.RUNNING: 1,
    JobStatus.PAUSED: 1,  # Bisheng has no paused: it is still in progress
    JobStatus.FAILED: 2,
    JobStatus.CANCELLED: 3,
    JobStatus.SUCCEEDED: 4,
    JobStatus.PUBLISHED: 5,
}
OUR_STATUSES = {
    1: [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED],
    2: [JobStatus.FAILED],
    3: [JobStatus.CANCELLED],
    4: [JobStatus.SUCCEEDED],
    5: [JobStatus.PUBLISHED],
}
LOG_TAIL_LINES = 200
LOSS_POINTS = 2000
MAX_LIMIT = 500  # jobs per page, as the REST API's page_size


class TrainDataSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    url = serializers.CharField()
    num = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=COLUMN_INT_MAX)


class BishengJobCreateSerializer(serializers.Serializer):
    server = serializers.JSONField(
        required=False, help_text="Accepted and ignored: Tuneforge schedules itself."
    )
    base_model = serializers.JSONField(help_text="Base model id or name.")
    model_name = serializers.CharField(max_length=50)
    method = serializers.CharField(default="lora")
    stage = serializers.CharField(default="sft")
    train_data = TrainDataSerializer(many=True, required=False, default=list)
    preset_data = TrainDataSerializer(many=True, required=False, default=list)
    extra_params = serializers.DictField(
        required=False,
        default=dict,
        help_text="The hyperparameters (as in POST /api/jobs/), plus 'gpus' (the devices, 'auto' by default)"
        " and 'name'/'author' for presets.\n" + HYPERPARAMETERS_HELP,
    )


class BishengRenameSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The job's uid or id.")
    model_name = serializers.CharField(max_length=50)


class BishengJobIdSerializer(serializers.Serializer):
    job_id = serializers.CharField(required=False, help_text="The job's uid or id (or give it in the query).")


class BishengTrainDataOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField(
        allow_null=True, help_text="dataset://<uid>; null once the dataset is deleted."
    )
    num = serializers.IntegerField(allow_null=True)


class BishengJobSerializer(serializers.Serializer):
    """What ``job_to_bisheng`` answers (documentation only)."""

    id = serializers.CharField(help_text="The job's uid, hex.")
    job_id = serializers.IntegerField()
    model_name = serializers.CharField()
    base_model = serializers.IntegerField()
    base_model_name = serializers.CharField()
    method = serializers.CharField()
    stage = serializers.CharField()
    status = serializers.IntegerField(help_text="1 training, 2 failed, 3 cancelled, 4 success, 5 published.")
    status_detail = serializers.CharField(help_text="Our status: queued, running, succeeded...")
    reason = serializers.CharField(allow_blank=True, allow_null=True)
    extra_params = serializers.DictField(child=serializers.JSONField())
    train_data = BishengTrainDataOutSerializer(many=True)
    report = serializers.JSONField(allow_null=True)
    user_name = serializers.CharField(allow_null=True)
    create_time = serializers.CharField()
    update_time = serializers.CharField()


JOB_ID = OpenApiParameter("job_id", str, description="The job's uid (hex) or id.")
REQUIRED_JOB_ID = OpenApiParameter("job_id", str, required=True, description="The job's uid (hex) or id.")


def job_to_bisheng(job: TrainingJob) -> dict:
    extra = dict(job.hyperparameters)
    extra["gpus"] = job.devices
    return {
        "id": job.uid.hex,
        "job_id": job.pk,
        "model_name": job.name,
        "base_model": job.base_model_id,
        "base_model_name": job.base_model.name,
        "method": job.method,
        "stage": job.stage,
        "status": BISHENG_STATUS[job.status],
        "status_detail": job.status,
        "reason": job.error,
        "extra_params": extra,
        "train_data": [
            {
                "name": jd.name,
                "url": f"dataset://{jd.dataset.uid}" if jd.dataset else None,
                "num": jd.num_samples,
            }
            for jd in job.job_datasets.select_related("dataset")
        ],
        "report": job.report or None,
        "user_name": job.created_by.username if job.created_by else None,
        "create_time": job.created_at.isoformat(),
        "update_time": (job.finished_at or job.started_at or job.created_at).isoformat(),
    }


def find_job(org, job_id: str | None) -> TrainingJob:
    if not job_id:
        raise DomainError("job_id is required.", fields={"job_id": "required"})
    jobs = scoped(TrainingJob.objects.select_related("base_model", "created_by"), org)
    pk = as_id(job_id)
    lookup = Q(pk=pk) if pk is not None else None
    if lookup is None:
        try:
            lookup = Q(uid=uuid.UUID(str(job_id)))
        except ValueError as exc:
            raise NotFound("No such job.") from exc
    job = jobs.filter(lookup).first()
    if job is None:
        raise NotFound("No such job.")
    return job


def _choices(org, items: list[dict], placeholders: dict | None = None) -> list[services.DatasetChoice]:
    from datasets_app.services import resolve_dataset_url

    choices = []
    for index, item in enumerate(items):
        try:
            dataset = resolve_dataset_url(org, item["url"])
        except NotFound:
            raise DomainError(
                f"Unknown dataset {item['url']!r}: upload it with /api/v1/finetune/job/file first.",
                fields={f"train_data[{index}].url": "no such dataset for this organization"},
            ) from None
        choices.append(services.DatasetChoice(dataset, item.get("num") or None, None, placeholders))
    return choices


class JobView(BishengAPIView):
    @reply_schema("Job", BishengJobSerializer(), request=BishengJobCreateSerializer)
    def post(self, request):
        serializer = BishengJobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        base_model = resolve_base_model(self.org, data["base_model"])
        if base_model is None:
            raise DomainError("Unknown base model.", fields={"base_model": "no such base model"})
        extra = dict(data["extra_params"])
        devices = str(extra.pop("gpus", "auto") or "auto").replace(" ", "")
        placeholders = {k: extra.pop(k) for k in ("name", "author") if k in extra}
        datasets = _choices(self.org, data["train_data"]) + _choices(
            self.org, data["preset_data"], placeholders
        )
        job = services.create_job(
            self.org,
            request.user if request.user.pk else None,
            name=data["model_name"],
            base_model=base_model,
            datasets=datasets,
            stage=data["stage"],
            method=data["method"],
            hyperparameters=extra,
            devices=devices,
        )
        return envelope(job_to_bisheng(job))

    @reply_schema(
        "JobList",
        inline_serializer(
            "BishengJobPage", {"data": BishengJobSerializer(many=True), "total": serializers.IntegerField()}
        ),
        parameters=[
            OpenApiParameter("status", str, description="Comma list of Bisheng statuses 1-5."),
            OpenApiParameter("model_name", str, description="Part of the job's name."),
            OpenApiParameter("page", int, description=f"From 1 (at most {MAX_PAGE})."),
            OpenApiParameter("limit", int, description=f"Jobs per page, 1-{MAX_LIMIT} (default 10)."),
        ],
    )
    def get(self, request):
        jobs = scoped(TrainingJob.objects.select_related("base_model", "created_by"), self.org)
        params = request.query_params
        if params.get("status"):
            wanted = []
            for number in params["status"].split(","):
                code = as_id(number)
                if code not in OUR_STATUSES:
                    raise DomainError("status is a comma list of 1-5.", fields={"status": number})
                wanted += OUR_STATUSES[code]
            jobs = jobs.filter(status__in=wanted)
        if params.get("model_name"):
            jobs = jobs.filter(name__icontains=params["model_name"])
        page = whole_number(params.get("page") or "1", "page", minimum=1, maximum=MAX_PAGE)
        limit = whole_number(params.get("limit") or "10", "limit", minimum=1, maximum=MAX_LIMIT)
        total = jobs.count()
        rows = jobs.order_by("-created_at")[(page - 1) * limit : page * limit]
        return envelope({"data": [job_to_bisheng(job) for job in rows], "total": total})

    @reply_schema("Deleted", parameters=[REQUIRED_JOB_ID])
    def delete(self, request):
        services.delete_job(find_job(self.org, request.query_params.get("job_id")))
        return envelope(None)


class JobInfoView(BishengAPIView):
    @reply_schema(
        "JobInfo",
        inline_serializer(
            "BishengJobInfo",
            {
                "finetune": BishengJobSerializer(),
                "log": serializers.CharField(allow_blank=True, help_text="The newest log lines."),
                "log_truncated": serializers.BooleanField(),
                "log_url": serializers.CharField(help_text="The whole log, through our API."),
                "loss_data": serializers.ListField(
                    child=serializers.DictField(child=serializers.JSONField())
                ),
                "report": serializers.JSONField(allow_null=True),
            },
        ),
        parameters=[REQUIRED_JOB_ID],
    )
    def get(self, request):
        job = find_job(self.org, request.query_params.get("job_id"))
        logs = JobEvent.objects.filter(job=job, type__in=["log", "status"]).order_by("-seq")[:LOG_TAIL_LINES]
        lines = [format_event(event) for event in reversed(logs)]
        total_logs = JobEvent.objects.filter(job=job, type__in=["log", "status"]).count()
        loss = JobEvent.objects.filter(job=job, type="metric", payload__loss__isnull=False).order_by("seq")
        loss_data = [
            {"step": e.payload.get("step"), "loss": e.payload.get("loss")}
            for e in loss.only("payload")[:LOSS_POINTS]
        ]
        return envelope(
            {
                "finetune": job_to_bisheng(job),
                "log": "\n".join(lines),
                "log_truncated": total_logs > LOG_TAIL_LINES,
                "log_url": f"/api/jobs/{job.pk}/events/?type=log,status",
                "loss_data": loss_data,
                "report": job.report or None,
            }
        )


class JobActionView(BishengAPIView):
    operation = ""

    @reply_schema("JobAction", BishengJobSerializer(), request=BishengJobIdSerializer, parameters=[JOB_ID])
    def post(self, request):
        job = find_job(self.org, request.query_params.get("job_id") or request.data.get("job_id"))
        job = services.cancel_job(job) if self.operation == "cancel" else services.retry_job(job)
        return envelope(job_to_bisheng(job))


class JobRenameView(BishengAPIView):
    @reply_schema("JobRename", BishengJobSerializer(), request=BishengRenameSerializer)
    def patch(self, request):
        serializer = BishengRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = find_job(self.org, serializer.validated_data["id"])
        job = services.rename_job(job, serializer.validated_data["model_name"])
        return envelope(job_to_bisheng(job))


class ModelListView(BishengAPIView):
    @reply_schema(
        "ModelList",
        inline_serializer(
            "BishengModel",
            {
                "id": serializers.IntegerField(),
                "model_name": serializers.CharField(),
                "architecture": serializers.CharField(allow_blank=True),
                "parameter_count": serializers.IntegerField(allow_null=True),
                "context_length": serializers.IntegerField(allow_null=True),
            },
            many=True,
        ),
    )
    def get(self, request):
        models = scoped(BaseModel.objects.filter(is_valid=True), self.org).distinct()
        return envelope(
            [
                {
                    "id": m.pk,
                    "model_name": m.name,
                    "architecture": m.architecture,
                    "parameter_count": m.parameter_count,
                    "context_length": m.context_length,
                }
                for m in models
            ]
        )
