"""Portal pages for deployments: the list, publishing, a deployment's page, unpublishing, the playground."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from llm_platform.errors import DomainError
from llm_platform.portal.views import may_infer, require_org, require_write
from llm_platform.tenancy import get_scoped_or_404, scoped
from serving_app import services
from serving_app.conf import default_engine_kind, gateway_endpoint
from serving_app.forms import PublishForm
from serving_app.models import Deployment, DeploymentStatus, Usage
from serving_app.playground import comparison_available
from serving_app.usage import usage_totals

USAGE_DAYS = 30


def _deployments(org):
    return scoped(Deployment.objects.select_related("job", "base_model", "engine"), org)


@login_required
def deployment_list(request):
    org = require_org(request)
    since = timezone.localdate() - timedelta(days=USAGE_DAYS)
    usage = {
        row["deployment"]: row
        for row in scoped(Usage.objects.filter(day__gte=since), org).values("deployment").annotate(**_sums())
    }
    rows = [(d, usage.get(d.pk)) for d in _deployments(org)]
    return render(
        request,
        "serving/list.html",
        {"rows": rows, "endpoint": gateway_endpoint(), "usage_days": USAGE_DAYS},
    )


def _sums():
    return {
        "requests": Sum("requests"),
        "prompt_tokens": Sum("prompt_tokens"),
        "completion_tokens": Sum("completion_tokens"),
    }


@login_required
def deployment_new(request):
    org = require_org(request)
    form = PublishForm(request.POST or None, org=org, initial={"job": request.GET.get("job")})
    if request.method == "POST":
        require_write(request)
        if form.is_valid():
            data = form.cleaned_data
            source = data["source"]
            try:
                deployment = services.publish(
                    org,
                    request.user,
                    name=data["name"],
                    job=data.get("checkpoint_job") if source == "checkpoint" else data.get("job"),
                    checkpoint_step=data.get("checkpoint_step") if source == "checkpoint" else None,
                    base_model=data["base_model"] if source == "base" else None,
                    engine=data["engine"],
                )
            except DomainError as exc:
                for field, message in (exc.fields or {"__all__": exc.message}).items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                messages.success(request, f"Publishing {deployment.name}: its engine is starting.")
                return redirect("serving:detail", pk=deployment.pk)
    return render(request, "serving/new.html", {"form": form, "default_engine": default_engine_kind()})


@login_required
def deployment_detail(request, pk: int):
    org = require_org(request)
    deployment = get_scoped_or_404(_deployments(org), org, pk=pk)
    usage = deployment.usage.order_by("-day")[:USAGE_DAYS]
    return render(
        request,
        "serving/detail.html",
        {
            "deployment": deployment,
            "endpoint": gateway_endpoint(),
            "usage": usage,
            "totals": usage_totals(deployment.usage.all()),
            "engine": deployment.engine if request.user.is_staff else None,
        },
    )


@login_required
def deployment_status(request, pk: int):
    """The status badge alone: the detail page polls it while the deployment starts."""
    org = require_org(request)
    deployment = get_scoped_or_404(_deployments(org), org, pk=pk)
    response = render(request, "serving/_status.html", {"deployment": deployment, "poll": True})
    if deployment.status != DeploymentStatus.STARTING:
        response["HX-Refresh"] = "true"  # settled: show the whole page as it now is
    return response


@login_required
@require_POST
def deployment_unpublish(request, pk: int):
    org = require_org(request)
    require_write(request)
    deployment = get_scoped_or_404(_deployments(org), org, pk=pk)
    services.unpublish(deployment)
    messages.success(request, f"Unpublished {deployment.name}.")
    return redirect("serving:list")


@login_required
def playground(request, pk: int):
    org = require_org(request)
    deployment = get_scoped_or_404(_deployments(org), org, pk=pk)  # another org's: 404 before 403
    if not may_infer(request):
        raise PermissionDenied("Your role in this organization (viewer) may not chat with models.")
    return render(
        request,
        "serving/playground.html",
        {"deployment": deployment, "can_compare": comparison_available(deployment)},
    )
