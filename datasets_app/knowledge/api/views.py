"""``/api/knowledge-bases/`` and its documents, extraction runs and pairs: one organization's, 404 to others.

Members write, viewers read; setting a base's language-model endpoint needs an org admin.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.response import Response

from llm_platform.api.viewsets import TenantMixin, TenantModelViewSet, TenantReadOnlyViewSet

from ...api.parsers import UploadParser
from .. import review, services
from ..models import ExtractionRun, KnowledgeBase, KnowledgeDocument, PairStatus, QAPair
from .serializers import (
    DocumentUploadSerializer,
    EndpointSerializer,
    ExportRequestSerializer,
    ExtractionRunSerializer,
    ExtractRequestSerializer,
    KnowledgeBaseSerializer,
    KnowledgeDocumentSerializer,
    KnowledgeExportSerializer,
    PairFilterSerializer,
    QAPairSerializer,
)

KB_FILTER = OpenApiParameter("knowledge_base", int, description="Only this knowledge base's.")


def _by_kb(queryset, params):
    return review.filter_pairs(queryset, {"knowledge_base": params.get("knowledge_base")})


class KnowledgeBaseViewSet(TenantModelViewSet):
    """Knowledge bases: upload documents, extract pairs, review them, export accepted ones as a dataset."""

    queryset = KnowledgeBase.objects.all()
    serializer_class = KnowledgeBaseSerializer
    parser_classes = [JSONParser, UploadParser, FormParser]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_knowledge_base(
            self.org, self.request.user, name=data["name"], description=data.get("description", "")
        )

    @extend_schema(
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={201: KnowledgeDocumentSerializer},
    )
    @action(detail=True, methods=["post"], parser_classes=[UploadParser, FormParser])
    def documents(self, request, pk=None):
        """Upload one document (txt, md, html, pdf, docx) or QA list (csv, xlsx, json, jsonl)."""
        kb = self.get_object()
        upload = DocumentUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        document = services.add_document(kb, upload.validated_data["file"])
        return Response(KnowledgeDocumentSerializer(document).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ExtractRequestSerializer, responses={202: ExtractionRunSerializer})
    @action(detail=True, methods=["post"])
    def extract(self, request, pk=None):
        """Start an extraction run in the background; follow it at ``/api/extraction-runs/{id}/``."""
        kb = self.get_object()
        body = ExtractRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        options = dict(body.validated_data)
        mode, documents = options.pop("mode"), options.pop("documents", None)
        run = services.start_extraction(kb, request.user, mode=mode, options=options, documents=documents)
        return Response(ExtractionRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=EndpointSerializer, responses=KnowledgeBaseSerializer)
    @action(detail=True, methods=["put"])
    def endpoint(self, request, pk=None):
        """Set the OpenAI-compatible endpoint of generated extraction (org admins). The key is stored
        encrypted and never shown; with ``deployment`` a key for the platform's gateway is minted."""
        kb = self.get_object()
        body = EndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kb = services.set_endpoint(kb, self.role, request.user, **body.validated_data)
        return Response(KnowledgeBaseSerializer(kb).data)

    @extend_schema(
        request=PairFilterSerializer,
        responses=inline_serializer("AcceptAll", {"accepted": serializers.IntegerField()}),
    )
    @action(detail=True, methods=["post"], url_path="accept-all")
    def accept_all(self, request, pk=None):
        """Accept every pending pair (optionally of one document, or only flagged ones)."""
        body = PairFilterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        params = {k: str(v).lower() for k, v in body.validated_data.items()}
        return Response({"accepted": review.accept_all(self.get_object(), params)})

    @extend_schema(responses=QAPairSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def duplicates(self, request, pk=None):
        """Groups of pairs with near-identical questions (a list of lists); keep one of each."""
        groups = review.duplicate_groups(self.get_object())
        return Response([QAPairSerializer(group, many=True).data for group in groups])

    @extend_schema(request=ExportRequestSerializer, responses={201: KnowledgeExportSerializer})
    @action(detail=True, methods=["post"])
    def export(self, request, pk=None):
        """Export accepted pairs as a new dataset (one row per answer); each export is a new version."""
        body = ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        export = review.export_pairs(self.get_object(), request.user, **body.validated_data)
        data = KnowledgeExportSerializer(export, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[KB_FILTER])
class KnowledgeDocumentViewSet(
    TenantMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Documents of the organization's knowledge bases (upload through the knowledge base)."""

    queryset = KnowledgeDocument.objects.all()
    serializer_class = KnowledgeDocumentSerializer

    def get_queryset(self):
        return _by_kb(super().get_queryset(), self.request.query_params)

    def perform_destroy(self, instance):
        services.delete_document(instance)


@extend_schema(parameters=[KB_FILTER])
class ExtractionRunViewSet(TenantReadOnlyViewSet):
    """Extraction runs: status, progress, counts and log (and the traceback of a failure)."""

    queryset = ExtractionRun.objects.all()
    serializer_class = ExtractionRunSerializer

    def get_queryset(self):
        return _by_kb(super().get_queryset(), self.request.query_params)


@extend_schema(
    parameters=[
        KB_FILTER,
        OpenApiParameter("document", int),
        OpenApiParameter("status", str, enum=PairStatus.values),
        OpenApiParameter("flagged", bool),
    ]
)
class QAPairViewSet(
    TenantMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Pairs to review: edit the question, answers or status; accept or reject one."""

    queryset = QAPair.objects.select_related("document")
    serializer_class = QAPairSerializer
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            queryset = review.filter_pairs(queryset, self.request.query_params)
        return queryset

    def perform_update(self, serializer):
        review.update_pair(serializer.instance, **serializer.validated_data)

    @extend_schema(request=None, responses=QAPairSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return Response(
            QAPairSerializer(review.update_pair(self.get_object(), status=PairStatus.ACCEPTED)).data
        )

    @extend_schema(request=None, responses=QAPairSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return Response(
            QAPairSerializer(review.update_pair(self.get_object(), status=PairStatus.REJECTED)).data
        )
