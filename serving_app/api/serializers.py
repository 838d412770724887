from __future__ import annotations

from rest_framework import serializers

from llm_platform.input_guard import COLUMN_INT_MAX
from serving_app.conf import gateway_endpoint
from serving_app.models import Deployment, Usage


class DeploymentSerializer(serializers.ModelSerializer):
    job_name = serializers.CharField(source="job.name", read_only=True, default=None, allow_null=True)
    base_model_name = serializers.CharField(source="base_model.name", read_only=True)
    engine = serializers.CharField(source="engine.kind", read_only=True)
    device = serializers.CharField(source="engine.device", read_only=True)
    model = serializers.CharField(source="name", read_only=True, help_text="The `model` to send to /v1.")
    endpoint = serializers.SerializerMethodField(help_text="The OpenAI base URL.")
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "uid",
            "name",
            "model",
            "endpoint",
            "status",
            "error",
            "source",
            "job",
            "job_name",
            "checkpoint_step",
            "base_model",
            "base_model_name",
            "engine",
            "device",
            "created_by",
            "created_at",
            "ready_at",
        ]
        read_only_fields = fields

    def get_endpoint(self, obj) -> str:
        return gateway_endpoint()


class PublishSerializer(serializers.Serializer):
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="Defaults to the job's name."
    )
    job = serializers.CharField(required=False, help_text="The job's id or uid.")
    checkpoint_step = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=COLUMN_INT_MAX,
        help_text="Publish this checkpoint of the job instead.",
    )
    base_model = serializers.CharField(required=False, help_text="A base model's id or name.")
    engine = serializers.ChoiceField(choices=["auto", "vllm", "builtin"], default="auto")
    device = serializers.CharField(required=False, allow_blank=True, max_length=10)

    def validate(self, attrs):
        if bool(attrs.get("job")) == bool(attrs.get("base_model")):
            raise serializers.ValidationError({"job": "give either a job or a base model"})
        return attrs


class UsageSerializer(serializers.ModelSerializer):
    total_tokens = serializers.SerializerMethodField()

    class Meta:
        model = Usage
        fields = ["day", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens"]

    def get_total_tokens(self, obj) -> int:
        return obj.prompt_tokens + obj.completion_tokens
