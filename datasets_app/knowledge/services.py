"""Knowledge bases' business logic: the portal and the REST API call these (review and export: ``review``).

Documents are parsed within the upload request (the same name, size and bomb limits as dataset uploads);
a file that cannot be read is refused with its name and reason, and nothing of it is kept.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from llm_platform.errors import DomainError
from llm_platform.models import ApiKey, Role, role_at_least

from ..errors import UploadRejected, shown_name
from ..ingest import FileError, safe_filename
from ..services import _tokenizer_option
from ..storage import delete_files, save_local_file, upload_on_disk
from .documents import QA_FORMATS, check_size, document_format, parse_document
from .extraction import ExtractionRunner
from .models import DocumentKind, ExtractionMode, ExtractionRun, KnowledgeBase, KnowledgeDocument
from .qa_lists import parse_qa_list
from .secrets import encrypt

# name: (type, minimum, maximum, default)
RUN_OPTIONS = {
    "chunk_tokens": (int, 32, 8192, 400),
    "overlap_tokens": (int, 0, 4096, 40),
    "pairs_per_chunk": (int, 1, 20, 3),
    "concurrency": (int, 1, 16, 2),
    "retries": (int, 0, 5, 1),
    "min_overlap": (float, 0.0, 1.0, 0.5),
    "max_tokens": (int, 16, 8192, 512),
}
MAX_PROMPT_CHARS = 8000


class AdminOnly(DomainError):
    status = 403
    code = "forbidden"


def _user(user):
    return user if isinstance(user, get_user_model()) else None


def create_knowledge_base(org, user, *, name: str, description: str = "") -> KnowledgeBase:
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the knowledge base a name.", fields={"name": ["required"]})
    return KnowledgeBase.objects.create(
        organization=org, created_by=_user(user), name=name[:200], description=description or ""
    )


def add_document(kb: KnowledgeBase, uploaded_file) -> KnowledgeDocument:
    """Parse and keep one document; raises :class:`UploadRejected` (400, with the file name) if unreadable."""
    raw_name = getattr(uploaded_file, "name", "") or ""
    try:
        filename = safe_filename(raw_name)
        file_format = document_format(filename)
        check_size(uploaded_file.size)
        with tempfile.TemporaryDirectory(prefix="tf-kb-") as work:
            path = upload_on_disk(uploaded_file, work)
            if file_format in QA_FORMATS:
                parsed = parse_qa_list(path, file_format)
                if not parsed.entries:
                    raise FileError(
                        "no_entries", f"no usable question-answer entries ({_skips(parsed.skipped)})"
                    )
            else:
                parsed = parse_document(path, file_format)
            return _store(kb, filename, file_format, path, parsed, uploaded_file.size)
    except FileError as exc:
        raise UploadRejected(exc, shown_name(raw_name)) from None


def _skips(skipped: dict) -> str:
    return (
        ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in skipped.items()) or "none found"
    )


def _store(kb, filename, file_format, path: Path, parsed, size: int) -> KnowledgeDocument:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stored = save_local_file(path, f"knowledge/{kb.organization_id}/{kb.uid}/{digest[:16]}/{filename}")
    try:
        with transaction.atomic():
            return KnowledgeDocument.objects.create(
                organization_id=kb.organization_id,
                knowledge_base=kb,
                filename=filename,
                kind=DocumentKind.QA_LIST if parsed.kind == "qa_list" else DocumentKind.TEXT,
                file_format=file_format.lstrip("."),
                size_bytes=size,
                sha256=digest,
                original_file=stored,
                text=parsed.text,
                sections=parsed.sections,
                entries=parsed.entries,
                skipped=parsed.skipped,
            )
    except BaseException:
        delete_files([stored])
        raise


def delete_document(document: KnowledgeDocument) -> None:
    stored = document.original_file.name
    document.delete()  # its pairs keep their text; their document link is cleared
    transaction.on_commit(lambda: delete_files([stored]))


def run_options(org, mode: str, raw: dict) -> dict:
    """Check a run's options; returns them complete (defaults filled in) or raises DomainError naming the field."""
    if mode not in ExtractionMode.values:
        raise DomainError(f"mode must be one of {', '.join(ExtractionMode.values)}.", fields={"mode": [mode]})
    options: dict = {}
    for name, (kind, low, high, default) in RUN_OPTIONS.items():
        value = raw.get(name)
        if value in (None, ""):
            options[name] = default
            continue
        try:
            value = kind(value)
        except (TypeError, ValueError):
            value = None
        if value is None or not low <= value <= high:
            raise DomainError(
                f"{name} must be a number from {low} to {high}.", fields={name: [str(raw.get(name))]}
            )
        options[name] = value
    for name in ("prompt", "language"):
        if raw.get(name):
            options[name] = str(raw[name])[:MAX_PROMPT_CHARS]
    if options.get("prompt") and "{chunk}" not in options["prompt"]:
        raise DomainError(
            "The prompt must contain {chunk}, where the text goes.", fields={"prompt": ["no {chunk}"]}
        )
    if raw.get("tokenizer"):
        options.update(_tokenizer_option(org, raw["tokenizer"]))
    return options


def start_extraction(
    kb: KnowledgeBase, user, *, mode: str, options: dict | None = None, documents=None
) -> ExtractionRun:
    """Write the run row, then queue it once committed (fixed RQ id, see ``llm_platform.jobs``)."""
    checked = run_options(kb.organization, mode, options or {})
    if documents:
        ids = sorted({int(d) for d in documents})
        known = set(kb.documents.filter(pk__in=ids).values_list("pk", flat=True))
        if missing := [d for d in ids if d not in known]:
            raise DomainError(
                f"No document {missing[0]} in this knowledge base.", fields={"documents": missing}
            )
        checked["documents"] = ids
    if mode == ExtractionMode.GENERATED and not kb.has_llm:
        raise DomainError(
            "Set the knowledge base's language-model endpoint first (an org admin can).", code="no_endpoint"
        )
    run = ExtractionRun.objects.create(
        organization_id=kb.organization_id,
        knowledge_base=kb,
        mode=mode,
        options=checked,
        created_by=_user(user),
    )
    ExtractionRunner.enqueue_on_commit(run)
    return run


def set_endpoint(
    kb: KnowledgeBase,
    role: str,
    user,
    *,
    model: str,
    base_url: str = "",
    api_key: str = "",
    deployment: bool = False,
) -> KnowledgeBase:
    """Point generated extraction at an endpoint; org admins only. ``deployment``: ``model`` names one of the
    organization's deployments, reached through the platform's own gateway with a key minted for it.
    An external endpoint's key is stored encrypted and never shown again."""
    if not role_at_least(role, Role.ADMIN):
        raise AdminOnly("Only an organization admin can set the endpoint.")
    model = (model or "").strip()
    if not model:
        raise DomainError("Name the model (or deployment) to use.", fields={"model": ["required"]})
    if deployment:
        _key, raw = ApiKey.issue(
            kb.organization, name=f"knowledge base {kb.name}"[:100], created_by=_user(user)
        )
        kb.llm_base_url, kb.llm_key_encrypted = f"{settings.SITE_URL}/v1", encrypt(raw)
    else:
        base_url = (base_url or "").strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise DomainError("base_url must be an http(s) address.", fields={"base_url": ["an http(s) URL"]})
        if not api_key and not (kb.llm_key_encrypted and kb.llm_base_url == base_url):
            raise DomainError("Give the endpoint's API key.", fields={"api_key": ["required"]})
        kb.llm_base_url = base_url
        if api_key:
            kb.llm_key_encrypted = encrypt(api_key)
    kb.llm_model, kb.llm_is_deployment = model[:200], deployment
    kb.save(update_fields=["llm_base_url", "llm_model", "llm_key_encrypted", "llm_is_deployment"])
    return kb
