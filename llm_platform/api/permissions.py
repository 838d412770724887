"""Who may do what through the API: members write, viewers read, outsiders see nothing."""

from __future__ import annotations

from rest_framework import permissions

from llm_platform.models import ApiKey, Role, role_at_least


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
        if request.method in permissions.SAFE_METHODS:
            return True
        required = getattr(view, "required_write_role", Role.MEMBER)
        return role_at_least(role, required)
