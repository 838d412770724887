"""Portal pages of knowledge bases: list, detail (documents, extraction with live progress, endpoint,
export) and review. Members write, viewers read, admins set the endpoint; another org's is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from llm_platform.errors import DomainError
from llm_platform.portal.views import require_org, require_write
from llm_platform.tenancy import get_scoped_or_404, scoped

from . import review, services
from .models import ExtractionMode, KnowledgeBase, PairStatus, QAPair

REVIEW_PAGE_SIZE = 50


def _kb(request: HttpRequest, pk: int) -> KnowledgeBase:
    return get_scoped_or_404(KnowledgeBase.objects.all(), require_org(request), pk=pk)


def _done(request: HttpRequest, kb: KnowledgeBase, work, success: str, target: str = "datasets:kb-detail"):
    """Run ``work()``; a domain error becomes a message on the page it came from."""
    try:
        result = work()
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(result=result))
    return redirect(target, kb.pk)


@login_required
def kb_list(request: HttpRequest) -> HttpResponse:
    org = require_org(request)
    if request.method == "POST":
        require_write(request)
        try:
            kb = services.create_knowledge_base(
                org,
                request.user,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("datasets:kb-detail", kb.pk)
    bases = scoped(KnowledgeBase.objects.all(), org)
    return render(request, "datasets/knowledge/list.html", {"bases": bases})


@login_required
@require_GET
def kb_detail(request: HttpRequest, pk: int) -> HttpResponse:
    kb = _kb(request, pk)
    context = {
        "kb": kb,
        "documents": kb.documents.all(),
        "runs": kb.runs.all()[:20],
        "exports": kb.exports.select_related("dataset"),
        "modes": ExtractionMode.choices,
        "counts": {s: kb.pairs.filter(status=s).count() for s in PairStatus.values},
        "layouts": review.LAYOUTS,
    }
    return render(request, "datasets/knowledge/detail.html", context)


@login_required
@require_POST
def kb_upload(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    kb = _kb(request, pk)
    files = request.FILES.getlist("file")
    if not files:
        messages.error(request, "Choose a file to upload.")
    for upload in files:
        try:
            document = services.add_document(kb, upload)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{document.filename} added.")
    return redirect("datasets:kb-detail", kb.pk)


@login_required
@require_POST
def kb_extract(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    kb = _kb(request, pk)
    options = {
        k: v for k, v in request.POST.items() if k in services.RUN_OPTIONS or k in ("prompt", "language")
    }
    mode = request.POST.get("mode", "")
    return _done(
        request,
        kb,
        lambda: services.start_extraction(kb, request.user, mode=mode, options=options),
        "Extraction started: it runs in the background.",
    )


@login_required
@require_POST
def kb_endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    kb = _kb(request, pk)
    return _done(
        request,
        kb,
        lambda: services.set_endpoint(
            kb,
            request.role,
            request.user,
            model=request.POST.get("model", ""),
            base_url=request.POST.get("base_url", ""),
            api_key=request.POST.get("api_key", ""),
            deployment=request.POST.get("deployment") == "on",
        ),
        "Endpoint saved (its key is stored encrypted and not shown again).",
    )


@login_required
@require_POST
def kb_export(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    kb = _kb(request, pk)
    return _done(
        request,
        kb,
        lambda: (
            review.export_pairs(
                kb,
                request.user,
                layout=request.POST.get("layout", "alpaca"),
                system_prompt=request.POST.get("system_prompt", ""),
            ).dataset.name
        ),
        'Exported as the dataset "{result}".',
    )


@login_required
@require_GET
def kb_review(request: HttpRequest, pk: int) -> HttpResponse:
    kb = _kb(request, pk)
    filters = {key: request.GET.get(key, "") for key in ("document", "status", "flagged")}
    try:
        pairs = review.filter_pairs(kb.pairs.select_related("document"), filters)
    except DomainError as exc:
        messages.error(request, exc.message)
        pairs = kb.pairs.select_related("document")
    page = Paginator(pairs, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "kb": kb,
        "page": page,
        "filters": filters,
        "documents": kb.documents.all(),
        "statuses": PairStatus.choices,
        "duplicates": review.duplicate_groups(kb),
    }
    return render(request, "datasets/knowledge/review.html", context)


@login_required
@require_POST
def kb_accept_all(request: HttpRequest, pk: int) -> HttpResponse:
    require_write(request)
    kb = _kb(request, pk)
    params = {"document": request.POST.get("document", "")}
    return _done(
        request, kb, lambda: review.accept_all(kb, params), "{result} pairs accepted.", "datasets:kb-review"
    )


@login_required
@require_POST
def pair_update(request: HttpRequest, pk: int, pair_id: int) -> HttpResponse:
    require_write(request)
    kb = _kb(request, pk)
    pair = get_scoped_or_404(QAPair.objects.filter(knowledge_base=kb), request.org, pk=pair_id)
    action = request.POST.get("action", "save")
    if action in ("accept", "reject"):
        changes = {"status": PairStatus.ACCEPTED if action == "accept" else PairStatus.REJECTED}
    else:
        answers = [a.strip() for a in request.POST.get("answers", "").split("\n---\n")]
        changes = {"question": request.POST.get("question", ""), "answers": answers}
    return _done(
        request, kb, lambda: review.update_pair(pair, **changes), "Pair updated.", "datasets:kb-review"
    )
