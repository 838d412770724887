"""Deployments through the REST API: list, publish, inspect, unpublish, usage. Services do the work."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from llm_platform.api.viewsets import TenantMixin
from llm_platform.errors import DomainError
from serving_app import services
from serving_app.api.serializers import DeploymentSerializer, PublishSerializer, UsageSerializer
from serving_app.models import Deployment
from training_app.api.views import resolve_base_model
from training_app.bisheng import find_job


class DeploymentViewSet(
    TenantMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Published models of this organization; call them at ``/v1`` with an API key."""

    queryset = Deployment.objects.select_related("job", "base_model", "engine", "created_by")
    serializer_class = DeploymentSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.request.query_params.get("status"):
            queryset = queryset.filter(status__in=self.request.query_params["status"].split(","))
        return queryset

    @extend_schema(request=PublishSerializer, responses={201: DeploymentSerializer})
    def create(self, request):
        serializer = PublishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = find_job(self.org, data["job"]) if data.get("job") else None
        base_model = None
        if data.get("base_model"):
            base_model = resolve_base_model(self.org, data["base_model"])
            if base_model is None:
                raise DomainError("Unknown base model.", fields={"base_model": "no such base model"})
        deployment = services.publish(
            self.org,
            request.user,
            name=data.get("name", ""),
            job=job,
            checkpoint_step=data.get("checkpoint_step"),
            base_model=base_model,
            engine=data["engine"],
            device=data.get("device") or None,
        )
        deployment = self.get_queryset().get(pk=deployment.pk)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.unpublish(instance)

    @extend_schema(responses=UsageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def usage(self, request, pk=None):
        deployment = self.get_object()
        rows = deployment.usage.order_by("-day")[:90]
        return Response(UsageSerializer(rows, many=True).data)
