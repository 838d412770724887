"""Members, invitations and the audit log of the caller's organization.

Managing members needs a logged-in owner or admin (an API key acts for no person, so it may only list
members); the audit log is read by owners and admins. Another organization's member or invitation is a 404.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from llm_platform import members
from llm_platform.api.permissions import TenantPermission, request_org_and_role
from llm_platform.api.serializers import (
    AcceptInvitationSerializer,
    AuditEntrySerializer,
    InvitationSerializer,
    MemberRoleSerializer,
    MembershipSerializer,
    NewInvitationSerializer,
)
from llm_platform.api.viewsets import TenantMixin
from llm_platform.audit import csv_rows, filter_entries
from llm_platform.models import ApiKey, AuditEntry, Invitation, Membership, Role, role_at_least


class AdminPermission(TenantPermission):
    """A tenant member whose role is admin or owner, for reads too."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if not role_at_least(request_org_and_role(request)[1], Role.ADMIN):
            self.message = "Only the organization's owner and admins may do this."
            return False
        return True


def caller_membership(request) -> Membership:
    """The logged-in caller's membership; API keys act for no person and cannot manage members."""
    if isinstance(request.auth, ApiKey):
        raise PermissionDenied("API keys cannot manage members; log in to the portal.")
    return request._request.membership


def accept_link(request, raw_token: str) -> str:
    return request.build_absolute_uri(reverse("invitation-accept", args=[raw_token]))


class MemberViewSet(
    TenantMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The organization's members. Owners and admins change roles and remove members; the owner transfers
    ownership. A removed member's open live pages close at once."""

    lookup_value_regex = "[0-9]{1,18}"
    queryset = Membership.objects.select_related("user", "organization")
    serializer_class = MembershipSerializer
    required_write_role = Role.ADMIN
    http_method_names = ["get", "patch", "delete", "post", "head", "options"]

    @extend_schema(request=MemberRoleSerializer, responses=MembershipSerializer)
    def partial_update(self, request, *args, **kwargs):
        target = self.get_object()
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        members.change_role(caller_membership(request), target, serializer.validated_data["role"])
        return Response(MembershipSerializer(target).data)

    def destroy(self, request, *args, **kwargs):
        members.remove_member(caller_membership(request), self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=MembershipSerializer)
    @action(detail=True, methods=["post"], url_path="transfer-ownership")
    def transfer_ownership(self, request, pk=None):
        """Make this member the owner; you (the owner) stay on as an admin."""
        target = members.transfer_ownership(caller_membership(request), self.get_object())
        return Response(MembershipSerializer(target).data)


class InvitationViewSet(
    TenantMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """One-time invitation links, valid for ``INVITATION_TTL_HOURS``; emailed when an address is given
    and an email backend is configured. Deleting revokes an open one."""

    lookup_value_regex = "[0-9]{1,18}"
    queryset = Invitation.objects.select_related("created_by")
    serializer_class = InvitationSerializer
    permission_classes = [AdminPermission]

    @extend_schema(request=InvitationSerializer, responses={201: NewInvitationSerializer})
    def create(self, request, *args, **kwargs):
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, raw_token = members.invite(
            caller_membership(request),
            email=serializer.validated_data.get("email", ""),
            role=serializer.validated_data["role"],
            accept_url=lambda token: accept_link(request, token),
        )
        invitation.token = raw_token
        invitation.link = accept_link(request, raw_token)
        return Response(NewInvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        members.revoke_invitation(caller_membership(request), self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AcceptInvitationView(APIView):
    """Join the organization of an invitation as the logged-in user (an unknown or used token: 404)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=AcceptInvitationSerializer, responses={201: MembershipSerializer})
    def post(self, request):
        if isinstance(request.auth, ApiKey):
            raise PermissionDenied("Invitations are accepted by a person: log in.")
        serializer = AcceptInvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = members.accept(serializer.validated_data["token"], request.user)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


AUDIT_FILTERS = [
    OpenApiParameter("actor", str, description="Part of the actor's name (a username or api-key:<prefix>)."),
    OpenApiParameter(
        "object_type", str, description="dataset, trainingjob, deployment, apikey, membership..."
    ),
    OpenApiParameter("action", str, description="e.g. job.cancel, member.role"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Entries at or after this time."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Entries before this time."),
]


@extend_schema(parameters=AUDIT_FILTERS)
class AuditViewSet(TenantMixin, viewsets.ReadOnlyModelViewSet):
    """The organization's audit log, newest first. Read-only: no endpoint changes or deletes an entry."""

    lookup_value_regex = "[0-9]{1,18}"
    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    permission_classes = [AdminPermission]

    def get_queryset(self):
        return filter_entries(super().get_queryset(), self.request.query_params)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The filtered log as CSV.")
        }
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        response = StreamingHttpResponse(csv_rows(self.get_queryset().iterator()), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response
