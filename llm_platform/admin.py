from django.contrib import admin, messages

from llm_platform.audit import changes, record
from llm_platform.models import ApiKey, AuditEntry, Invitation, Membership, Organization
from llm_platform.services import issue_api_key, revoke_api_key

LIMIT_FIELDS = ["name", "max_running_jobs", "max_gpus", "monthly_gpu_hours"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "member_count",
        "max_running_jobs",
        "max_gpus",
        "monthly_gpu_hours",
        "created_at",
    ]
    search_fields = ["slug", "name"]
    list_filter = ["created_at"]
    inlines = [MembershipInline]

    @admin.display(description="Members")
    def member_count(self, obj):
        return obj.memberships.count()

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            before = Organization.objects.filter(pk=obj.pk).values(*LIMIT_FIELDS).first() or {}
        super().save_model(request, obj, form, change)
        after = {field: getattr(obj, field) for field in LIMIT_FIELDS}
        record(
            obj,
            "organization.settings" if change else "organization.create",
            obj,
            summary=changes(before, after),
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__slug", "organization__name"]
    autocomplete_fields = ["user", "organization"]

    def save_model(self, request, obj, form, change):
        before = Membership.objects.filter(pk=obj.pk).values("role").first() if change else {}
        super().save_model(request, obj, form, change)
        record(
            obj.organization,
            "member.role" if change else "member.add",
            obj,
            summary=changes(before or {}, {"role": obj.role}),
        )

    def delete_model(self, request, obj):
        record(obj.organization, "member.remove", obj, summary=f"{obj.user} ({obj.role})")
        super().delete_model(request, obj)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "name",
        "organization",
        "role",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["role", "organization", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "organization__slug"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "role"]
        return [
            "organization",
            "name",
            "prefix",
            "role",
            "scopes",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Scopes are chosen at creation (all the role allows, from here); the role still caps them.
        return ["organization", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_key = issue_api_key(
            obj.organization, name=obj.name, role=obj.role, scopes=None, created_by=request.user
        )
        obj.pk = api_key.pk
        obj.prefix = api_key.prefix
        messages.warning(request, f"New key (copy it now, it is not shown again): {raw_key}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            revoke_api_key(api_key)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["organization", "email", "role", "created_by", "created_at", "expires_at", "accepted_at"]
    list_filter = ["organization", "role"]
    readonly_fields = ["token_hash", "accepted_at", "accepted_by"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Staff read every organization's log here; nothing can be added, changed or deleted."""

    list_display = [
        "created_at",
        "organization",
        "actor",
        "action",
        "object_type",
        "object_repr",
        "summary",
        "client_address",
    ]
    list_filter = ["organization", "action", "object_type"]
    search_fields = ["actor", "action", "object_repr", "summary"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
