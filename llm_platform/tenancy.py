"""Tenancy in one place: which organization a request acts for, and what it may see.

The portal takes the current organization from the session (the org switcher sets it); the API takes it
from the API key, or from the session for a logged-in browser. Every tenant-owned queryset is filtered by
:func:`scoped`, so another organization's object is simply not found (404), never "forbidden".
"""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest

from llm_platform.models import Membership, Organization, Role, role_at_least

SESSION_KEY = "current_org_id"


def memberships_of(user) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("organization")


def chosen_membership(user, org_id: int | None) -> Membership | None:
    """The membership for ``org_id`` (the session's choice), else the user's first one by slug."""
    memberships = memberships_of(user)
    membership = memberships.filter(organization_id=org_id).first() if org_id is not None else None
    return membership or memberships.order_by("organization__slug").first()


def resolve_membership(request: HttpRequest) -> Membership | None:
    """The membership the session points at, falling back to the user's first one."""
    session = getattr(request, "session", None)
    org_id = session.get(SESSION_KEY) if session is not None else None
    membership = chosen_membership(request.user, org_id)
    if membership is not None and session is not None and org_id != membership.organization_id:
        session[SESSION_KEY] = membership.organization_id
    return membership


class CurrentOrganizationMiddleware:
    """Sets ``request.org`` and ``request.membership`` for logged-in portal users (lazily)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = resolve_membership(request) if request.user.is_authenticated else None
        request.org = request.membership.organization if request.membership else None
        request.role = request.membership.role if request.membership else None
        return self.get_response(request)


def switch_organization(request: HttpRequest, slug: str) -> Membership:
    membership = memberships_of(request.user).filter(organization__slug=slug).first()
    if membership is None:
        raise Http404("No such organization")
    request.session[SESSION_KEY] = membership.organization_id
    return membership


def organization_context(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_org": getattr(request, "org", None),
        "current_role": getattr(request, "role", None),
        "can_write": bool(getattr(request, "role", None) and role_at_least(request.role, Role.MEMBER)),
        "user_memberships": memberships_of(request.user).order_by("organization__slug"),
    }


def tenant_filter(model: type[Model], org: Organization) -> Q:
    """What of ``model`` an organization may see: its own rows, plus shared rows where the model says so.

    A model with shared rows (presets, models enabled for every org) defines ``visible_to(org) -> Q``.
    """
    visible_to = getattr(model, "visible_to", None)
    if visible_to is not None:
        return visible_to(org)
    return Q(organization=org)


def scoped(queryset: QuerySet, org: Organization | None) -> QuerySet:
    """The one scoped-queryset helper: every tenant-owned query goes through it."""
    if org is None:
        return queryset.none()
    return queryset.filter(tenant_filter(queryset.model, org))


def get_scoped_or_404(queryset: QuerySet, org: Organization | None, **lookup):
    try:
        return scoped(queryset, org).get(**lookup)
    except queryset.model.DoesNotExist as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc
