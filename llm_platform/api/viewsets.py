"""The DRF base every tenant-owned resource uses: scoped querysets, org set on create."""

from __future__ import annotations

from rest_framework import mixins, viewsets

from llm_platform.api.permissions import TenantPermission, request_org_and_role
from llm_platform.tenancy import scoped


class TenantMixin:
    permission_classes = [TenantPermission]

    @property
    def org(self):
        return request_org_and_role(self.request)[0]

    @property
    def role(self):
        return request_org_and_role(self.request)[1]

    def get_queryset(self):
        return scoped(super().get_queryset(), self.org)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["org"] = self.org
        return context


class TenantModelViewSet(TenantMixin, viewsets.ModelViewSet):
    """Create sets the organization from the request; nobody can write another org's rows."""

    def perform_create(self, serializer):
        serializer.save(organization=self.org)


class TenantReadOnlyViewSet(TenantMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantCreateListRetrieveDestroyViewSet(
    TenantMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    def perform_create(self, serializer):
        serializer.save(organization=self.org)
