"""Who may do what through the API: members write, viewers read, outsiders see nothing."""

from __future__ import annotations

from rest_framework import permissions

from llm_platform.models import ApiKey, Role, Scope, role_at_least


def request_org_and_role(request):
    """The organization and role a DRF request acts with: from its API key, else from the session."""
    if isinstance(request.auth, ApiKey):
        return request.auth.organization, request.auth.role
    django_request = request._request
    return getattr(django_request, "org", None), getattr(django_request, "role", None)


class TenantPermission(permissions.BasePermission):
    """Authenticated and in an organization; writes need at least ``required_write_role``."""

    message = "Your role in this organization only allows reading."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        org, role = request_org_and_role(request)
        if org is None or role is None:
            self.message = "You are not a member of any organization."
            return False
        reading = request.method in permissions.SAFE_METHODS
        if isinstance(request.auth, ApiKey):
            scope = Scope.READ if reading else Scope.WRITE
            if not request.auth.allows(scope):
                self.message = missing_scope_message(request.auth, scope)
                return False
        if reading:
            return True
        required = getattr(view, "required_write_role", Role.MEMBER)
        return role_at_least(role, required)


def missing_scope_message(api_key: ApiKey, scope: str) -> str:
    granted = ", ".join(api_key.scope_list) or "none"
    return f"This API key lacks the '{scope}' scope (it has: {granted}); create a key with it in the portal."
