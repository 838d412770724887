from __future__ import annotations

from rest_framework import serializers

from llm_platform.members import ASSIGNABLE_CHOICES
from llm_platform.models import ApiKey, AuditEntry, Invitation, Membership, Organization, Scope


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "slug", "name", "created_at", "max_running_jobs", "max_gpus"]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    is_active = serializers.BooleanField(read_only=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        source="scope_list",
        required=False,
        help_text="read (GET), write (create, change, delete), inference (the /v1 gateway). Default: all"
        " the role allows; a viewer (read-only) key may only read.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "role",
            "scopes",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = [
            "id",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret key. Shown once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class CurrentOrganizationSerializer(OrganizationSerializer):
    """What ``/api/org/`` answers: the organization, your role, and (when logged in) its members."""

    role = serializers.CharField(read_only=True)
    members = MembershipSerializer(many=True, required=False, help_text="Not shown to API keys.")

    class Meta(OrganizationSerializer.Meta):
        fields = [*OrganizationSerializer.Meta.fields, "role", "members"]
        read_only_fields = OrganizationSerializer.Meta.fields


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ASSIGNABLE_CHOICES, help_text="The member's new role.")


class InvitationSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    state = serializers.ChoiceField(choices=["open", "accepted", "revoked", "expired"], read_only=True)
    role = serializers.ChoiceField(choices=ASSIGNABLE_CHOICES, default="member")

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "state", "created_by", "created_at", "expires_at", "accepted_at"]
        read_only_fields = ["id", "state", "created_by", "created_at", "expires_at", "accepted_at"]


class NewInvitationSerializer(InvitationSerializer):
    link = serializers.CharField(read_only=True, help_text="The one-time link to pass on. Shown once.")
    token = serializers.CharField(
        read_only=True, help_text="The link's token, for POST /api/invitations/accept/."
    )

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link", "token"]


class AcceptInvitationSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="The token of an invitation link.")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "summary",
            "client_address",
        ]
        read_only_fields = fields
