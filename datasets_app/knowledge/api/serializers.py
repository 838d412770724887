"""What the knowledge-base API shows and accepts. An endpoint's key is write-only: it is never shown."""

from __future__ import annotations

from rest_framework import serializers

from ...api.serializers import DatasetSerializer
from ..models import ExtractionMode, ExtractionRun, KnowledgeBase, KnowledgeDocument, KnowledgeExport, QAPair
from ..review import LAYOUTS


class KnowledgeBaseSerializer(serializers.ModelSerializer):
    llm_key_set = serializers.SerializerMethodField(
        help_text="Whether an endpoint key is stored (never shown)."
    )
    documents = serializers.IntegerField(source="documents.count", read_only=True)
    llm_base_url = serializers.CharField(
        read_only=True, help_text="The endpoint generated extraction calls; blank until one is set."
    )

    class Meta:
        model = KnowledgeBase
        fields = [
            "id",
            "uid",
            "name",
            "description",
            "created_at",
            "documents",
            "llm_base_url",
            "llm_model",
            "llm_is_deployment",
            "llm_key_set",
        ]
        read_only_fields = [
            "id",
            "uid",
            "created_at",
            "documents",
            "llm_base_url",
            "llm_model",
            "llm_is_deployment",
        ]

    def get_llm_key_set(self, kb) -> bool:
        return bool(kb.llm_key_encrypted)


class KnowledgeDocumentSerializer(serializers.ModelSerializer):
    entries = serializers.SerializerMethodField(help_text="QA-list entries.")
    text_chars = serializers.SerializerMethodField()
    pages = serializers.SerializerMethodField()

    class Meta:
        model = KnowledgeDocument
        fields = [
            "id",
            "knowledge_base",
            "filename",
            "kind",
            "file_format",
            "size_bytes",
            "sha256",
            "text_chars",
            "pages",
            "entries",
            "skipped",
            "created_at",
        ]
        read_only_fields = fields

    def get_entries(self, document) -> int:
        return len(document.entries)

    def get_text_chars(self, document) -> int:
        return len(document.text)

    def get_pages(self, document) -> int | None:
        pages = {s["page"] for s in document.sections if s.get("page")}
        return max(pages) if pages else None


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="An empty file is refused by name.")


class ExtractionRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExtractionRun
        fields = [
            "id",
            "uid",
            "knowledge_base",
            "mode",
            "options",
            "status",
            "progress",
            "message",
            "counts",
            "log",
            "traceback",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ExtractRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ExtractionMode.choices)
    documents = serializers.ListField(child=serializers.IntegerField(), required=False)
    chunk_tokens = serializers.IntegerField(required=False)
    overlap_tokens = serializers.IntegerField(required=False)
    tokenizer = serializers.IntegerField(
        required=False, help_text="A base model whose tokenizer counts tokens."
    )
    pairs_per_chunk = serializers.IntegerField(required=False)
    concurrency = serializers.IntegerField(required=False)
    retries = serializers.IntegerField(required=False)
    min_overlap = serializers.FloatField(
        required=False, help_text="Answers sharing less with their chunk are flagged."
    )
    prompt = serializers.CharField(
        required=False, help_text="Must contain {chunk}; may use {n} and {language}."
    )
    language = serializers.CharField(required=False)


class EndpointSerializer(serializers.Serializer):
    deployment = serializers.BooleanField(default=False, help_text="model names one of your deployments.")
    model = serializers.CharField()
    base_url = serializers.CharField(required=False, allow_blank=True, default="")
    api_key = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)


class QAPairSerializer(serializers.ModelSerializer):
    document_name = serializers.CharField(source="document.filename", read_only=True, default=None)

    class Meta:
        model = QAPair
        fields = [
            "id",
            "knowledge_base",
            "document",
            "document_name",
            "run",
            "chunk",
            "question",
            "answers",
            "source",
            "status",
            "flagged",
            "flag_reason",
            "page",
            "headings",
            "start",
            "end",
            "line",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [f for f in fields if f not in ("question", "answers", "status")]


class PairFilterSerializer(serializers.Serializer):
    document = serializers.IntegerField(required=False)
    flagged = serializers.BooleanField(required=False)


class ExportRequestSerializer(serializers.Serializer):
    layout = serializers.ChoiceField(choices=LAYOUTS, default="alpaca")
    system_prompt = serializers.CharField(required=False, allow_blank=True, default="")
    name = serializers.CharField(required=False, allow_blank=True, default="")


class KnowledgeExportSerializer(serializers.ModelSerializer):
    dataset = DatasetSerializer(read_only=True)
    pairs = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = KnowledgeExport
        fields = [
            "id",
            "knowledge_base",
            "version",
            "layout",
            "system_prompt",
            "dataset",
            "pairs",
            "created_at",
        ]
        read_only_fields = fields
