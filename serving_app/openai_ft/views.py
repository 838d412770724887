"""``/v1/files`` and ``/v1/fine_tuning/jobs`` as the ``openai`` client calls them. Views only translate:
the work is in ``services`` (this package's, then the datasets and training services the portal uses)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets_app import services as datasets
from datasets_app.api.parsers import UploadParser
from llm_platform.api.parsers import SafeJSONParser
from llm_platform.api.permissions import request_org_and_role
from llm_platform.disconnect import client_gone
from llm_platform.input_guard import whole_number
from serving_app.openai_ft import objects, schema, services
from serving_app.openai_ft.errors import documented_errors, exception_handler
from training_app import services as training
from training_app.models import JobEvent

TAG = ["openai-fine-tuning"]
ID = OpenApiParameter("id", str, OpenApiParameter.PATH)
AFTER = OpenApiParameter("after", str, description="The id of the last object of the previous page.")
LIMIT = OpenApiParameter("limit", int)


class AnyAccept(BaseContentNegotiation):
    """The client asks for ``application/binary`` or ``application/json`` as it pleases: we answer JSON (or
    the file's bytes), as OpenAI does, never 406."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OpenAIView(APIView):
    parser_classes = [SafeJSONParser]
    content_negotiation_class = AnyAccept

    def get_exception_handler(self):
        return exception_handler

    @property
    def org(self):
        return request_org_and_role(self.request)[0]


def _limit(params, default: int, maximum: int) -> int:
    return whole_number(params.get("limit", default), "limit", minimum=1, maximum=maximum)


def listing(rows: list[dict], has_more: bool) -> dict:
    return {
        "object": "list",
        "data": rows,
        "has_more": has_more,
        "first_id": rows[0]["id"] if rows else None,
        "last_id": rows[-1]["id"] if rows else None,
    }


UPLOAD = inline_serializer(
    "OpenAIFileUpload", {"file": serializers.FileField(), "purpose": serializers.ChoiceField(["fine-tune"])}
)


class FilesView(OpenAIView):
    parser_classes = [UploadParser, FormParser]

    @extend_schema(
        tags=TAG,
        operation_id="openai_files_list",
        parameters=[
            OpenApiParameter("purpose", str),
            AFTER,
            LIMIT,
            OpenApiParameter("order", str, enum=["asc", "desc"]),
        ],
        responses={200: schema.FILES, **documented_errors(400, 404)},
    )
    def get(self, request):
        params = request.query_params
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            return services_error("order must be 'asc' or 'desc'.", "order")
        queryset = services.Dataset.objects.filter(organization=self.org)
        purpose = params.get("purpose")
        if purpose and purpose != services.PURPOSE:
            queryset = queryset.none()
        limit = _limit(params, 10000, 10000)
        rows, more = services.page(
            queryset,
            after=params.get("after"),
            limit=limit,
            order=order,
            lookup=lambda given: services.get_file(self.org, given),
        )
        return Response(listing([objects.file_object(d) for d in rows], more))

    @extend_schema(
        tags=TAG,
        operation_id="openai_files_create",
        request={"multipart/form-data": UPLOAD},
        responses={200: schema.FILE, **documented_errors(400, 413)},
    )
    def post(self, request):
        upload = request.data.get("file")
        if upload is None or isinstance(upload, str):
            return services_error("Send the file as the multipart field 'file'.", "file")
        dataset = services.upload_file(
            self.org, request.user, upload, request.data.get("purpose"), cancelled=client_gone(request)
        )
        return Response(objects.file_object(dataset))


def services_error(message: str, param: str):
    raise services.bad(message, param)


class FileView(OpenAIView):
    @extend_schema(
        tags=TAG,
        operation_id="openai_files_retrieve",
        parameters=[ID],
        responses={200: schema.FILE, **documented_errors(404)},
    )
    def get(self, request, file_id: str):
        job = services.result_job(self.org, file_id)
        if job is not None:
            return Response(objects.result_file_object(job))
        return Response(objects.file_object(services.get_file(self.org, file_id)))

    @extend_schema(
        tags=TAG,
        operation_id="openai_files_delete",
        parameters=[ID],
        responses={200: schema.DELETED_FILE, **documented_errors(404, 409)},
    )
    def delete(self, request, file_id: str):
        dataset = services.get_file(self.org, file_id)
        datasets.delete_dataset(dataset, self.org)
        return Response({"id": file_id, "object": "file", "deleted": True})


class FileContentView(OpenAIView):
    @extend_schema(
        tags=TAG,
        operation_id="openai_files_content",
        parameters=[ID],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **documented_errors(404)},
    )
    def get(self, request, file_id: str):
        job = services.result_job(self.org, file_id)
        if job is not None:
            return HttpResponse(objects.metrics_csv(job), content_type="text/csv")
        dataset = services.get_file(self.org, file_id)
        stored = dataset.original_file.name or dataset.normalised_file.name
        if not stored:
            raise services.NotFound(f"File {file_id} has no stored content yet.", code="file_not_found")
        return FileResponse(
            default_storage.open(stored, "rb"),
            as_attachment=True,
            filename=dataset.original_filename,
            content_type="application/octet-stream",
        )


class JobsView(OpenAIView):
    @extend_schema(
        tags=TAG,
        operation_id="openai_fine_tuning_jobs_list",
        parameters=[AFTER, LIMIT],
        responses={200: schema.JOBS, **documented_errors(400, 404)},
    )
    def get(self, request):
        params = request.query_params
        metadata = {
            key[len("metadata[") : -1]: value
            for key, value in params.items()
            if key.startswith("metadata[") and key.endswith("]") and len(key) > len("metadata[]")
        }
        queryset = services.filter_jobs(services.visible_jobs(self.org), metadata)
        rows, more = services.page(
            queryset,
            after=params.get("after"),
            limit=_limit(params, 20, 100),
            order="desc",
            lookup=lambda given: services.get_job(self.org, given),
        )
        return Response(listing([objects.job_object(job) for job in rows], more))

    @extend_schema(
        tags=TAG,
        operation_id="openai_fine_tuning_jobs_create",
        request=OpenApiTypes.OBJECT,
        responses={200: schema.JOB, **documented_errors(400, 404)},
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            return services_error("The body must be a JSON object.", None)
        job = services.create_job(self.org, request.user, dict(request.data))
        return Response(objects.job_object(job))


class JobView(OpenAIView):
    @extend_schema(
        tags=TAG,
        operation_id="openai_fine_tuning_jobs_retrieve",
        parameters=[ID],
        responses={200: schema.JOB, **documented_errors(404)},
    )
    def get(self, request, job_id: str):
        return Response(objects.job_object(services.get_job(self.org, job_id)))


ACTIONS = {"cancel": training.cancel_job, "pause": training.pause_job, "resume": training.resume_job}


class JobActionView(OpenAIView):
    action = ""

    @extend_schema(
        tags=TAG,
        parameters=[ID],
        request=None,
        responses={200: schema.JOB, **documented_errors(404, 409)},
    )
    def post(self, request, job_id: str):
        job = ACTIONS[self.action](services.get_job(self.org, job_id))
        return Response(objects.job_object(job))


class JobEventsView(OpenAIView):
    @extend_schema(
        tags=TAG,
        operation_id="openai_fine_tuning_jobs_events",
        parameters=[ID, AFTER, LIMIT],
        responses={200: schema.EVENTS, **documented_errors(400, 404)},
    )
    def get(self, request, job_id: str):
        job = services.get_job(self.org, job_id)
        params = request.query_params
        limit = _limit(params, 20, 1000)
        events = JobEvent.objects.filter(job=job).order_by("-seq")
        after = params.get("after")
        if after:
            seq = services.ids.seq_of_event(after)
            if seq is None:
                return services_error(f"Invalid event id {after!r}.", "after")
            events = events.filter(seq__lt=seq)
        rows = list(events[: limit + 1])
        data = [objects.event_object(job, event) for event in rows[:limit]]
        return Response(listing(data, len(rows) > limit))


class JobCheckpointsView(OpenAIView):
    @extend_schema(
        tags=TAG,
        operation_id="openai_fine_tuning_jobs_checkpoints",
        parameters=[ID, AFTER, LIMIT],
        responses={200: schema.CHECKPOINTS, **documented_errors(400, 404)},
    )
    def get(self, request, job_id: str):
        job = services.get_job(self.org, job_id)
        params = request.query_params
        limit = _limit(params, 10, 1000)
        rows = objects.checkpoint_objects(job)
        after = params.get("after")
        if after:
            position = next((i for i, row in enumerate(rows) if row["id"] == after), None)
            if position is None:
                return services_error(f"Invalid checkpoint id {after!r}.", "after")
            rows = rows[position + 1 :]
        return Response(listing(rows[:limit], len(rows) > limit))
