from __future__ import annotations

from rest_framework import serializers

from llm_platform.models import ApiKey, Membership, Organization, Scope


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
