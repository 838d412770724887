"""Platform endpoints: the caller's organization and its API keys."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from llm_platform.api.permissions import TenantPermission, request_org_and_role
from llm_platform.api.serializers import (
    ApiKeySerializer,
    CurrentOrganizationSerializer,
    MembershipSerializer,
    NewApiKeySerializer,
    OrganizationSerializer,
)
from llm_platform.api.viewsets import TenantCreateListRetrieveDestroyViewSet
from llm_platform.models import ApiKey
from llm_platform.services import issue_api_key, revoke_api_key


class CurrentOrganizationView(APIView):
    permission_classes = [TenantPermission]

    @extend_schema(responses=CurrentOrganizationSerializer)
    def get(self, request):
        org, role = request_org_and_role(request)
        data = OrganizationSerializer(org).data
        data["role"] = role
        if not isinstance(request.auth, ApiKey):
            data["members"] = MembershipSerializer(org.memberships.select_related("user"), many=True).data
        return Response(data)


class ApiKeyViewSet(TenantCreateListRetrieveDestroyViewSet):
    """API keys of the caller's organization. Creating and revoking needs a logged-in member, not a key."""

    queryset = ApiKey.objects.select_related("created_by")
    serializer_class = ApiKeySerializer

    def get_serializer_class(self):
        return NewApiKeySerializer if self.action == "create" else ApiKeySerializer

    def _refuse_key_auth(self):
        if isinstance(self.request.auth, ApiKey):
            raise PermissionDenied("API keys cannot manage API keys; log in to the portal.")

    def create(self, request, *args, **kwargs):
        self._refuse_key_auth()
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, raw_key = issue_api_key(
            self.org,
            name=serializer.validated_data.get("name", ""),
            role=serializer.validated_data.get("role", ApiKey._meta.get_field("role").default),
            scopes=serializer.validated_data.get("scope_list"),
            created_by=request.user,
        )
        api_key.key = raw_key
        return Response(NewApiKeySerializer(api_key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        """Revoke (the row stays for the audit trail)."""
        self._refuse_key_auth()
        api_key = self.get_object()
        revoke_api_key(api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return self.destroy(request, pk=pk)
