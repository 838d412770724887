"""Our REST API for base models and training jobs. Business rules live in training_app.services."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from llm_platform.api.viewsets import TenantMixin, TenantReadOnlyViewSet
from llm_platform.errors import DomainError, NotFound
from llm_platform.input_guard import as_id, whole_number
from llm_platform.tenancy import scoped
from training_app import exports, services
from training_app.api.serializers import (
    BaseModelSerializer,
    JobCreateSerializer,
    JobEventSerializer,
    RenameSerializer,
    TrainingJobDetailSerializer,
    TrainingJobSerializer,
)
from training_app.logs import log_lines
from training_app.models import BaseModel, JobEvent, TrainingJob


class BaseModelViewSet(TenantReadOnlyViewSet):
    """Base models this organization may train on (operators register them in the admin)."""

    queryset = BaseModel.objects.all()
    serializer_class = BaseModelSerializer

    def get_queryset(self):
        return super().get_queryset().distinct()


def resolve_base_model(org, value) -> BaseModel | None:
    visible = scoped(BaseModel.objects.all(), org).distinct()
    pk = as_id(value)
    if pk is not None:
        return visible.filter(pk=pk).first()
    return visible.filter(name=str(value)).first()


def resolve_datasets(org, items: list[dict]) -> list[services.DatasetChoice]:
    from datasets_app.services import resolve_dataset_url

    choices = []
    for index, item in enumerate(items):
        try:
            dataset = resolve_dataset_url(org, str(item["dataset"]))
        except NotFound as exc:
            raise DomainError(
                exc.message, fields={f"datasets[{index}]": "no such dataset in this organization"}
            ) from exc
        choices.append(
            services.DatasetChoice(
                dataset, item.get("num_samples"), item.get("ratio"), item.get("placeholders")
            )
        )
    return choices


class TrainingJobViewSet(
    TenantMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = TrainingJob.objects.select_related("base_model", "created_by").prefetch_related(
        "job_datasets__dataset"
    )
    serializer_class = TrainingJobDetailSerializer

    def get_serializer_class(self):
        return TrainingJobSerializer if self.action == "list" else TrainingJobDetailSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        params = self.request.query_params
        if params.get("status"):
            queryset = queryset.filter(status__in=params["status"].split(","))
        if params.get("search"):
            queryset = queryset.filter(name__icontains=params["search"])
        return queryset

    @extend_schema(request=JobCreateSerializer, responses={201: TrainingJobDetailSerializer})
    def create(self, request):
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        base_model = resolve_base_model(self.org, data["base_model"])
        if base_model is None:
            raise DomainError(
                "Unknown base model.", fields={"base_model": "no such base model for this organization"}
            )
        job = services.create_job(
            self.org,
            request.user if request.user.pk else None,
            name=data["name"],
            base_model=base_model,
            datasets=resolve_datasets(self.org, data["datasets"]),
            stage=data["stage"],
            method=data["method"],
            hyperparameters=data["hyperparameters"],
            devices=data["devices"],
            seed=data["seed"],
            priority=data["priority"],
        )
        return Response(TrainingJobDetailSerializer(job).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.delete_job(instance)

    def _answer(self, job):
        job = self.get_queryset().get(pk=job.pk)
        return Response(TrainingJobDetailSerializer(job).data)

    @extend_schema(request=None, responses=TrainingJobDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._answer(services.cancel_job(self.get_object()))

    @extend_schema(request=None, responses=TrainingJobDetailSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._answer(services.retry_job(self.get_object()))

    @extend_schema(request=None, responses=TrainingJobDetailSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop a queued or running job, freeing its device; its checkpoints stay for ``resume``."""
        return self._answer(services.pause_job(self.get_object()))

    @extend_schema(request=None, responses=TrainingJobDetailSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Queue a paused job again; it continues from its newest checkpoint."""
        return self._answer(services.resume_job(self.get_object()))

    @extend_schema(request=RenameSerializer, responses=TrainingJobDetailSerializer)
    @action(detail=True, methods=["post"])
    def rename(self, request, pk=None):
        serializer = RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(services.rename_job(self.get_object(), serializer.validated_data["name"]))

    @extend_schema(request=RenameSerializer, responses={201: TrainingJobDetailSerializer})
    @action(detail=True, methods=["post"])
    def clone(self, request, pk=None):
        serializer = RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.clone_job(
            self.get_object(), request.user if request.user.pk else None, serializer.validated_data["name"]
        )
        return Response(TrainingJobDetailSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: TrainingJobDetailSerializer})
    @action(detail=True, methods=["post"])
    def export(self, request, pk=None):
        """Merge the LoRA adapter into full weights (in the background); they appear under merged/."""
        job = self.get_object()
        exports.request_merge(job)
        return Response(TrainingJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=RenameSerializer, responses={201: BaseModelSerializer})
    @action(detail=True, methods=["post"], url_path="register-base")
    def register_base(self, request, pk=None):
        """Make this job's full weights a base model of the organization, for further jobs."""
        serializer = RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = exports.register_as_base_model(self.get_object(), serializer.validated_data["name"])
        return Response(
            BaseModelSerializer(model, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("after_seq", int, description="Only events after this seq (0 or more)."),
            OpenApiParameter("type", str, description="Comma list of event types."),
            OpenApiParameter("level", str, description="Comma list of log levels."),
        ],
        responses=JobEventSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The job's events in order; ``after_seq`` resumes, ``type`` and ``level`` filter."""
        job = self.get_object()
        events = JobEvent.objects.filter(job=job)
        params = request.query_params
        if params.get("after_seq"):
            events = events.filter(seq__gt=whole_number(params["after_seq"], "after_seq", minimum=0))
        if params.get("type"):
            events = events.filter(type__in=params["type"].split(","))
        if params.get("level"):
            events = events.filter(level__in=params["level"].split(","))
        page = self.paginate_queryset(events.order_by("seq"))
        return self.get_paginated_response(JobEventSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("level", str, description="Comma list: debug, info, warning, error.")],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    @action(detail=True, methods=["get"])
    def log(self, request, pk=None):
        """The whole log as plain text (streamed), optionally filtered by ``level``."""
        job = self.get_object()
        levels = [lvl for lvl in request.query_params.get("level", "").split(",") if lvl]
        response = StreamingHttpResponse(log_lines(job, levels), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{job.name}.log"'
        return response
