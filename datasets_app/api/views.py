"""``/api/datasets/``: upload, list, inspect, preview, download and delete an organization's datasets.

Presets are listed for every organization and readable by all; deleting one your organization does not
own answers 403 (it is visible, so a 404 would contradict the list), never another tenant's data.
"""

from __future__ import annotations

import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser
from rest_framework.response import Response

from llm_platform.api.parsers import SafeJSONParser
from llm_platform.api.viewsets import TenantCreateListRetrieveDestroyViewSet
from llm_platform.disconnect import client_gone
from llm_platform.input_guard import MAX_PAGE, whole_number

from .. import services
from ..models import Dataset
from .parsers import UploadParser
from .serializers import DatasetDetailSerializer, DatasetSerializer, DatasetUploadSerializer

PREVIEW_PAGE_SIZE = 20
PREVIEW_MAX_PAGE_SIZE = 100


def positive_int(params, name: str, default: int, maximum: int = MAX_PAGE) -> int:
    """A page number or size from the query string: 1..maximum, else a 400 naming ``name``."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    return whole_number(raw, name, minimum=1, maximum=maximum)


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, enum=["uploaded", "processing", "ready", "failed"]),
        OpenApiParameter("kind", str, enum=["sft", "preference", "text"]),
        OpenApiParameter("preset", bool),
        OpenApiParameter("search", str, description="In the name, file name and description."),
    ]
)
class DatasetViewSet(TenantCreateListRetrieveDestroyViewSet):
    """The organization's datasets and every preset. Upload with ``multipart/form-data``."""

    queryset = Dataset.objects.select_related("organization", "created_by")
    parser_classes = [UploadParser, FormParser, SafeJSONParser]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            queryset = services.filter_datasets(queryset, self.request.query_params)
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return DatasetUploadSerializer
        return DatasetDetailSerializer if self.action == "retrieve" else DatasetSerializer

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer}, responses=DatasetDetailSerializer
    )
    def create(self, request, *args, **kwargs):
        """Small files come back ``ready`` with their counts; larger ones ``uploaded`` (then processing)."""
        upload = DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        dataset = services.create_dataset(
            self.org,
            request.user,
            upload.validated_data["file"],
            cancelled=client_gone(request),
            **upload.to_service_kwargs(),
        )
        data = DatasetDetailSerializer(dataset, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        """Refused (409) while a queued or running job uses the dataset; removes its stored files."""
        services.delete_dataset(self.get_object(), self.org)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=inline_serializer(
            "DatasetPreview",
            {
                "count": serializers.IntegerField(),
                "page": serializers.IntegerField(),
                "page_size": serializers.IntegerField(),
                "num_pages": serializers.IntegerField(),
                "kind": serializers.CharField(),
                "results": serializers.ListField(child=serializers.DictField(child=serializers.JSONField())),
            },
        ),
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """Normalised rows, a page at a time (canonical format: docs/canonical-format.md)."""
        dataset = self.get_object()
        page = positive_int(request.query_params, "page", 1)
        size = positive_int(request.query_params, "page_size", PREVIEW_PAGE_SIZE, PREVIEW_MAX_PAGE_SIZE)
        rows = services.preview_rows(dataset, (page - 1) * size, size)
        return Response(
            {
                "count": dataset.num_rows,
                "page": page,
                "page_size": size,
                "num_pages": max(1, math.ceil(dataset.num_rows / size)),
                "kind": dataset.kind,
                "results": rows,
            }
        )

    @extend_schema(
        parameters=[OpenApiParameter("which", str, enum=["original", "normalised"])],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The original upload or the normalised JSON-lines file."""
        return services.download_response(self.get_object(), request.query_params.get("which", "original"))
