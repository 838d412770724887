"""Bisheng-compatible training-file endpoints (``/api/v1/finetune/job/file...``), in Bisheng's envelope.

- ``POST job/file``: multipart ``files`` (one or many) become datasets of the caller's organization; each
  item is ``{id, name, url, num, ...}`` where ``url`` is ``dataset://<uid>``: an identifier to pass back,
  never a server path or an outside address. All files are accepted or none is kept.
- ``GET job/file/preset``: presets (``page_size``, ``page_num`` from 1, ``keyword``) as ``{list, total}``.
- ``POST job/file/preset``: operators (Django staff) upload global presets, visible read-only to every
  organization. Bisheng's variant that passes a URL in ``files`` is refused: we never fetch addresses.
- ``DELETE job/file/preset?id=`` (or ``file_id``): operators delete presets; others get 403 (read-only).
- ``GET job/file/download?file_url=``: ``{url, name}`` where ``url`` is this platform's download link
  of a dataset the caller may see (its organization's or a preset); anything else is 404.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError

from llm_platform.bisheng import BishengAPIView, envelope, reply_schema
from llm_platform.disconnect import client_gone
from llm_platform.errors import NotFound
from llm_platform.tenancy import scoped

from .. import services
from ..models import Dataset
from .parsers import UploadParser
from .serializers import bisheng_item
from .views import positive_int

MAX_PAGE_SIZE = 500


class FilesSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), help_text="One or more training files.")


class PresetFilesSerializer(FilesSerializer):
    name = serializers.CharField(required=False, allow_blank=True, help_text="Defaults to the file's name.")


class BishengFileSerializer(serializers.Serializer):
    """What ``bisheng_item`` answers (documentation only)."""

    id = serializers.CharField(help_text="The dataset's uid.")
    name = serializers.CharField()
    url = serializers.CharField(help_text="dataset://<uid>: pass it back as train_data[].url.")
    num = serializers.IntegerField(help_text="Rows kept.")
    status = serializers.CharField()
    kind = serializers.CharField()
    file_name = serializers.CharField(allow_blank=True)
    user_name = serializers.CharField(allow_null=True)
    create_time = serializers.DateTimeField()
    update_time = serializers.DateTimeField()


DATASET_REF = "The dataset's dataset:// url, uid or id."


def _uploaded_files(request) -> list:
    files = request.FILES.getlist("files")
    if not files:
        if isinstance(request.data.get("files"), str):
            raise ValidationError({"files": ["upload the files themselves; addresses are not fetched"]})
        raise ValidationError({"files": ["upload at least one file in the multipart field 'files'"]})
    return files


def _require_operator(request, what: str) -> None:
    if not getattr(request.user, "is_staff", False):
        raise PermissionDenied(f"Only operators can {what}; presets are read-only for organizations.")


class TrainingFileView(BishengAPIView):
    parser_classes = [UploadParser]

    @reply_schema(
        "FileUpload", BishengFileSerializer(many=True), request={"multipart/form-data": FilesSerializer}
    )
    def post(self, request):
        datasets = services.create_datasets(
            self.org, request.user, _uploaded_files(request), cancelled=client_gone(request)
        )
        return envelope([bisheng_item(dataset) for dataset in datasets])


class PresetFileView(BishengAPIView):
    parser_classes = [UploadParser]

    @reply_schema(
        "PresetList",
        inline_serializer(
            "BishengPresetPage",
            {"list": BishengFileSerializer(many=True), "total": serializers.IntegerField()},
        ),
        parameters=[
            OpenApiParameter("keyword", str, description="Part of the preset's name."),
            OpenApiParameter("page_size", int, description=f"1-{MAX_PAGE_SIZE}; all presets without it."),
            OpenApiParameter("page_num", int, description="From 1."),
        ],
    )
    def get(self, request):
        presets = scoped(Dataset.objects.filter(is_preset=True), self.org).select_related("created_by")
        keyword = (request.query_params.get("keyword") or "").strip()
        if keyword:
            presets = presets.filter(name__icontains=keyword)
        presets = presets.order_by("name", "pk")
        total = presets.count()
        if request.query_params.get("page_size") or request.query_params.get("page_num"):
            size = positive_int(request.query_params, "page_size", 20, MAX_PAGE_SIZE)
            page = positive_int(request.query_params, "page_num", 1)
            presets = presets[(page - 1) * size : page * size]
        return envelope({"list": [bisheng_item(dataset) for dataset in presets], "total": total})

    @reply_schema(
        "PresetUpload",
        BishengFileSerializer(many=True),
        request={"multipart/form-data": PresetFilesSerializer},
        description="Operators (staff) only.",
    )
    def post(self, request):
        _require_operator(request, "create presets")
        name = (request.data.get("name") or "").strip()
        datasets = services.create_datasets(
            None,
            request.user,
            _uploaded_files(request),
            name=name,
            is_preset=True,
            cancelled=client_gone(request),
        )
        return envelope([bisheng_item(dataset) for dataset in datasets])

    @reply_schema(
        "PresetDeleted",
        parameters=[
            OpenApiParameter("id", str, description=DATASET_REF),
            OpenApiParameter("file_id", str, description="Another name for id."),
        ],
        description="Operators (staff) only.",
    )
    def delete(self, request):
        ref = request.query_params.get("id") or request.query_params.get("file_id")
        if not ref:
            raise ValidationError({"id": ["give the preset's id"]})
        dataset = services.resolve_dataset_url(self.org, ref)
        if not dataset.is_preset:
            raise NotFound(f'No preset "{ref}".')
        services.delete_dataset(dataset, self.org, operator=getattr(request.user, "is_staff", False))
        return envelope(None)


class FileDownloadView(BishengAPIView):
    @reply_schema(
        "FileDownload",
        inline_serializer(
            "BishengDownload",
            {"url": serializers.CharField(), "name": serializers.CharField(allow_blank=True)},
        ),
        parameters=[OpenApiParameter("file_url", str, required=True, description=DATASET_REF)],
    )
    def get(self, request):
        ref = request.query_params.get("file_url")
        if not ref:
            raise ValidationError({"file_url": ["give the file's url (dataset://...)"]})
        dataset = services.resolve_dataset_url(self.org, ref)
        url = reverse("dataset-download", args=[dataset.pk]) + "?which=original"
        return envelope({"url": url, "name": dataset.original_filename})
