from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from llm_platform.input_guard import COLUMN_INT_MAX, INT64_MAX

from ..ingest import FORMATS
from ..ingest.pipeline import POLICIES
from ..ingest.textdocs import TEXT_SPLITS
from ..models import Dataset
from ..services import dataset_url, parse_mapping


class DatasetSerializer(serializers.ModelSerializer):
    ref = serializers.SerializerMethodField(help_text="dataset://<uid>: how training jobs name it.")
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    writable = serializers.SerializerMethodField(help_text="Whether your organization may delete it.")
    ignored_fields = serializers.SerializerMethodField(
        help_text="Fields of the upload the format does not use, with the number of rows that have them "
        "(map them with the column mapping to keep them)."
    )
    duplicates_removed = serializers.SerializerMethodField(help_text="Exact duplicate rows removed.")
    preset_slug = serializers.CharField(read_only=True, help_text="Blank unless the dataset is a preset.")

    class Meta:
        model = Dataset
        fields = [
            "id",
            "uid",
            "ref",
            "name",
            "description",
            "status",
            "progress",
            "error_code",
            "error_message",
            "original_filename",
            "size_bytes",
            "sha256",
            "format",
            "kind",
            "options",
            "rows_in",
            "num_rows",
            "is_preset",
            "preset_slug",
            "has_placeholders",
            "ignored_fields",
            "duplicates_removed",
            "organization",
            "created_by",
            "created_at",
            "updated_at",
            "writable",
        ]
        read_only_fields = fields

    def get_ref(self, dataset) -> str:
        return dataset_url(dataset)

    def get_writable(self, dataset) -> bool:
        return dataset.writable_by(self.context.get("org"))

    def get_ignored_fields(self, dataset) -> dict[str, int]:
        return dataset.stats.get("ignored_fields") or {}

    def get_duplicates_removed(self, dataset) -> int:
        return dataset.stats.get("duplicates_removed") or 0


class DatasetDetailSerializer(DatasetSerializer):
    stats = serializers.JSONField(read_only=True)
    errors = serializers.JSONField(source="row_errors", read_only=True, help_text="The first 100 row errors.")
    error_counts = serializers.JSONField(read_only=True)
    errors_total = serializers.SerializerMethodField()
    downloads = serializers.SerializerMethodField()

    class Meta(DatasetSerializer.Meta):
        fields = [
            *DatasetSerializer.Meta.fields,
            "stats",
            "errors",
            "error_counts",
            "errors_total",
            "downloads",
        ]
        read_only_fields = fields

    def get_errors_total(self, dataset) -> int:
        return sum(dataset.error_counts.values())

    def get_downloads(self, dataset) -> dict:
        url = reverse("dataset-download", args=[dataset.pk])
        return {
            "original": f"{url}?which=original" if dataset.original_file else None,
            "normalised": f"{url}?which=normalised" if dataset.normalised_file else None,
        }


class DatasetUploadSerializer(serializers.Serializer):
    """``multipart/form-data``: the file and how to read and clean it."""

    file = serializers.FileField(allow_empty_file=True, max_length=None, use_url=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, allow_blank=True, help_text="Blank: detected from the first rows."
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='Column mapping as JSON, e.g. {"columns": {"prompt": "question", "response": "answer"}}.',
    )
    policy = serializers.ChoiceField(choices=POLICIES, default="drop")
    dedupe = serializers.BooleanField(default=True)
    trim = serializers.BooleanField(default=True)
    drop_empty = serializers.BooleanField(default=True)
    max_sample_chars = serializers.IntegerField(
        min_value=1, max_value=COLUMN_INT_MAX, required=False, allow_null=True
    )
    text_split = serializers.ChoiceField(
        choices=TEXT_SPLITS,
        default="auto",
        help_text="How a .txt file is cut into documents: line, paragraph (blank lines between), file "
        "(one document), or auto (paragraph when there are blank lines, line when lines are long, else file).",
    )
    tokenizer = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=INT64_MAX,
        help_text="Id of a base model whose tokenizer counts tokens.",
    )

    def validate_mapping(self, value):
        return parse_mapping(value)

    def to_service_kwargs(self) -> dict:
        data = dict(self.validated_data)
        data.pop("file")
        return data


def bisheng_item(dataset: Dataset) -> dict:
    """One dataset in Bisheng's shape (``PresetTrain``): ``url`` is an identifier, never a path."""
    return {
        "id": str(dataset.uid),
        "name": dataset.name,
        "url": dataset_url(dataset),
        "num": dataset.num_rows,
        "status": dataset.status,
        "kind": dataset.kind,
        "rows_in": dataset.rows_in,
        "duplicates_removed": dataset.stats.get("duplicates_removed") or 0,
        "ignored_fields": dataset.stats.get("ignored_fields") or {},
        "has_placeholders": dataset.has_placeholders,
        "file_name": dataset.original_filename,
        "user_name": dataset.created_by.username if dataset.created_by else None,
        "create_time": dataset.created_at,
        "update_time": dataset.updated_at,
    }
