"""Portal pages for running a team: members and invitations, the audit log, new organizations, sign-up."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from llm_platform import input_guard, members
from llm_platform.audit import csv_rows, filter_entries
from llm_platform.errors import DomainError
from llm_platform.models import AuditEntry, Invitation, Membership, Role, role_at_least
from llm_platform.portal.forms import InviteForm, NewOrganizationForm
from llm_platform.tenancy import SESSION_KEY, get_scoped_or_404, scoped

AUDIT_PAGE_SIZE = 50


def _membership(request: HttpRequest) -> Membership:
    if request.membership is None:
        raise PermissionDenied("You are not a member of any organization yet.")
    return request.membership


def _require_admin(request: HttpRequest) -> Membership:
    membership = _membership(request)
    if not role_at_least(membership.role, Role.ADMIN):
        raise PermissionDenied("Only the organization's owner and admins may do this.")
    return membership


def _apply(request: HttpRequest, action, success: str) -> HttpResponse:
    try:
        action()
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("members")


@login_required
def member_list(request: HttpRequest) -> HttpResponse:
    membership = _membership(request)
    is_admin = role_at_least(membership.role, Role.ADMIN)
    form = InviteForm(request.POST or None)
    new_link = None
    if request.method == "POST":
        _require_admin(request)
        if form.is_valid():
            try:
                _invitation, token = members.invite(
                    membership,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    accept_url=lambda t: request.build_absolute_uri(reverse("invitation-accept", args=[t])),
                )
            except DomainError as exc:
                form.add_error("role", exc.message)
            else:
                new_link = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
                form = InviteForm()
    context = {
        "membership": membership,
        "is_admin": is_admin,
        "is_owner": membership.role == Role.OWNER,
        "members": scoped(Membership.objects.select_related("user"), request.org).order_by("user__username"),
        "invitations": scoped(Invitation.objects.select_related("created_by"), request.org)[:50]
        if is_admin
        else [],
        "roles": members.ASSIGNABLE_CHOICES,
        "form": form,
        "new_link": new_link,
    }
    return render(request, "portal/members.html", context)


def _target(request: HttpRequest, pk: int) -> Membership:
    return get_scoped_or_404(Membership.objects.select_related("user"), request.org, pk=pk)


@login_required
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target(request, pk)
    role = request.POST.get("role", "")
    return _apply(
        request,
        lambda: members.change_role(_membership(request), target, role),
        f"{target.user.username} is now {role}.",
    )


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target(request, pk)
    return _apply(
        request,
        lambda: members.remove_member(_membership(request), target),
        f"{target.user.username} removed.",
    )


@login_required
@require_POST
def member_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target(request, pk)
    return _apply(
        request,
        lambda: members.transfer_ownership(_membership(request), target),
        f"{target.user.username} now owns the organization.",
    )


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_scoped_or_404(Invitation.objects, request.org, pk=pk)
    return _apply(
        request, lambda: members.revoke_invitation(_membership(request), invitation), "Invitation revoked."
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link's page: who invites you to what; accepting joins and switches to that organization."""
    try:
        invitation = members.open_invitation(token)
    except DomainError as exc:
        raise Http404(exc.message) from None
    if not request.user.is_authenticated:
        return render(
            request,
            "portal/invitation.html",
            {"invitation": invitation, "signup_enabled": settings.SIGNUP_ENABLED, "next": request.path},
        )
    if request.method == "POST":
        try:
            membership = members.accept(token, request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("home")
        request.session[SESSION_KEY] = membership.organization_id
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("home")
    return render(request, "portal/invitation.html", {"invitation": invitation})


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    entries = filter_entries(scoped(AuditEntry.objects.all(), request.org), request.GET)
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(csv_rows(entries.iterator()), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response
    paginator = Paginator(entries, AUDIT_PAGE_SIZE)
    number = input_guard.whole_number(
        request.GET.get("page") or "1", "page", minimum=1, maximum=input_guard.MAX_PAGE
    )
    page = paginator.get_page(number)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/audit.html",
        {
            "page": page,
            "filters": {
                k: request.GET.get(k, "") for k in ("actor", "object_type", "action", "since", "until")
            },
            "query": query.urlencode(),
        },
    )


@login_required
def new_organization(request: HttpRequest) -> HttpResponse:
    """Staff create organizations (owned by a user they name, or themselves); with sign-up on, a user
    without an organization creates their own."""
    staff = request.user.is_staff
    if not (staff or (settings.SIGNUP_ENABLED and request.membership is None)):
        raise Http404
    form = NewOrganizationForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            org = members.create_organization_for(
                form.cleaned_data.get("owner") or request.user,
                form.cleaned_data["slug"],
                form.cleaned_data["name"],
            )
        except DomainError as exc:
            form.add_error("slug", exc.message)
        else:
            if not staff:
                request.session[SESSION_KEY] = org.pk
            messages.success(request, f"Organization {org.name} created.")
            return redirect("home")
    return render(request, "portal/new_org.html", {"form": form})


def signup(request: HttpRequest) -> HttpResponse:
    """Self-service sign-up (``SIGNUP_ENABLED``): an account, and an organization when no invitation waits."""
    if not settings.SIGNUP_ENABLED:
        raise Http404
    form = UserCreationForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if next_url.startswith("/invitations/"):
            return redirect(next_url)
        return redirect("new-org")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})
