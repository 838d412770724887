"""The portal's usage page: the same report as ``/api/usage/``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from serving_app.org_usage import parse_month, usage_report


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    if request.org is None:
        raise PermissionDenied("You are not a member of any organization yet.")
    report = usage_report(request.org, parse_month(request.GET.get("month")))
    return render(request, "serving/usage.html", {"report": report})
