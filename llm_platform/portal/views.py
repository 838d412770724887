"""Portal shell: login, the org switcher, the dashboard and the API-key page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_rq import get_connection

from llm_platform import services
from llm_platform.errors import DomainError
from llm_platform.models import ApiKey, Role, role_at_least
from llm_platform.portal.forms import ApiKeyForm
from llm_platform.tenancy import get_scoped_or_404, scoped, switch_organization


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def require_org(request: HttpRequest):
    if request.org is None:
        raise PermissionDenied("You are not a member of any organization yet. Ask an operator to add you.")
    return request.org


def require_write(request: HttpRequest) -> None:
    require_org(request)
    if not role_at_least(request.role, Role.MEMBER):
        raise PermissionDenied("Your role in this organization only allows reading.")


def may_infer(request: HttpRequest) -> bool:
    """Whether the signed-in user may chat with models (the playground): not a viewer."""
    return bool(request.role) and role_at_least(request.role, Role.MEMBER)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    org = require_org(request)
    members = org.memberships.select_related("user").order_by("user__username")
    active_keys = scoped(ApiKey.objects.active(), org).count()
    return render(request, "portal/home.html", {"org": org, "members": members, "active_keys": active_keys})


@login_required
@require_POST
def switch_org(request: HttpRequest) -> HttpResponse:
    membership = switch_organization(request, request.POST.get("org", ""))
    messages.info(request, f"Now working in {membership.organization.name}.")
    return redirect("home")


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    org = require_org(request)
    new_key = None
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST":
        require_write(request)
        if form.is_valid():
            try:
                _api_key, new_key = services.issue_api_key(
                    org,
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    scopes=form.cleaned_data["scopes"] or None,
                    created_by=request.user,
                )
            except DomainError as exc:
                for field, message in (exc.fields or {"role": exc.message}).items():
                    form.add_error(field, message)
            else:
                form = ApiKeyForm()
    keys = scoped(ApiKey.objects.select_related("created_by"), org)
    return render(request, "portal/api_keys.html", {"keys": keys, "form": form, "new_key": new_key})


@login_required
@require_POST
def revoke_api_key(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    api_key = get_scoped_or_404(ApiKey.objects, request.org, pk=pk)
    services.revoke_api_key(api_key)
    messages.success(request, f"Key {api_key.prefix}… revoked.")
    return redirect("api-keys")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness of the database and Redis, for load balancers and `make up`."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {exc}"
    try:
        get_connection("default").ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)
