"""Registering base models: the path must sit under MODEL_ROOTS, and config + tokenizer must load."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from llm_platform.errors import DomainError
from training_app.models import BaseModel, ChatTemplateSource
from training_app.trainer.templates import TEMPLATES as NAMED_TEMPLATES


def path_under_model_roots(raw_path: str) -> Path:
    """The resolved directory, or a DomainError when it is not inside one of MODEL_ROOTS.

    Resolving first defeats ``..`` and symlinks that point outside the roots.
    """
    if not raw_path or "\x00" in raw_path:
        raise DomainError("Give the model's directory.", fields={"path": "required"})
    path = Path(raw_path).expanduser().resolve()
    roots = [Path(root).resolve() for root in settings.MODEL_ROOTS]
    if not any(path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise DomainError(
            f"{raw_path} is outside the model roots ({allowed}).",
            fields={"path": f"must be a directory under one of: {allowed}"},
        )
    if not path.is_dir():
        raise DomainError(f"{path} is not a directory.", fields={"path": "no such directory"})
    return path


def hide_server_paths(text: str, *models: BaseModel) -> str:
    """``text`` for people who are not operators: each model's directory becomes its name, and any other
    place under MODEL_ROOTS becomes "<model root>" (tracebacks and loader errors name such paths)."""
    if not text:
        return text
    for model in models:
        if model is not None and model.path:
            for form in _forms(model.path):
                text = text.replace(form, model.name)
    for root in settings.MODEL_ROOTS:
        for form in _forms(str(root)):
            text = text.replace(form, "<model root>")
    return text


def hide_paths_in(value, *models: BaseModel):
    """:func:`hide_server_paths` through every string of a JSON-like value (an event, a report)."""
    if isinstance(value, str):
        return hide_server_paths(value, *models)
    if isinstance(value, dict):
        return {key: hide_paths_in(item, *models) for key, item in value.items()}
    if isinstance(value, list):
        return [hide_paths_in(item, *models) for item in value]
    return value


def _forms(path: str) -> list[str]:
    """A path as written and as resolved (symlinks), longest first so the fuller one is replaced first."""
    forms = {path.rstrip("/") or path}
    try:
        forms.add(str(Path(path).expanduser().resolve()))
    except (OSError, RuntimeError):
        pass
    return sorted((f for f in forms if len(f) > 1), key=len, reverse=True)


def inspect_model(source: str, *, trust_remote_code: bool) -> dict:
    """Load config and tokenizer (no weights) and describe the model; DomainError when they do not load."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - any loader failure is the operator's to fix
        raise DomainError(
            f"Cannot load the model's config and tokenizer: {exc}", fields={"path": str(exc)[:500]}
        ) from exc
    return {
        "architecture": (config.architectures or [config.model_type])[0],
        "parameter_count": _parameter_count(config, trust_remote_code),
        "context_length": getattr(config, "max_position_embeddings", None),
        "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }


def _parameter_count(config, trust_remote_code: bool) -> int | None:
    try:
        from accelerate import init_empty_weights
        from transformers import AutoModelForCausalLM

        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
        return sum(p.numel() for p in model.parameters())
    except Exception:  # noqa: BLE001 - the count is informative only
        return None


def check_base_model(
    *,
    path: str = "",
    hub_id: str = "",
    chat_template_source: str = ChatTemplateSource.TOKENIZER,
    chat_template_name: str = "",
    chat_template: str = "",
    trust_remote_code: bool = False,
) -> tuple[str, dict]:
    """Every check a base model must pass before it is saved: ``(source, inspected info)`` or a DomainError
    whose ``fields`` name the input at fault (the admin form shows them and saves nothing)."""
    if bool(path) == bool(hub_id):
        raise DomainError("Give either a local path or a hub id.", fields={"path": "path or hub_id"})
    source = str(path_under_model_roots(path)) if path else hub_id
    if chat_template_source == ChatTemplateSource.NAMED and chat_template_name not in NAMED_TEMPLATES:
        raise DomainError(
            "Unknown chat template.",
            fields={"chat_template_name": "one of " + ", ".join(sorted(NAMED_TEMPLATES))},
        )
    if chat_template_source == ChatTemplateSource.CUSTOM and not chat_template.strip():
        raise DomainError("Give the custom Jinja template.", fields={"chat_template": "required"})
    info = inspect_model(source, trust_remote_code=trust_remote_code)
    if chat_template_source == ChatTemplateSource.TOKENIZER and not info["has_chat_template"]:
        raise DomainError(
            "The tokenizer has no chat template: pick a named or custom one.",
            fields={"chat_template_source": "the tokenizer has no chat template"},
        )
    return source, info


def register_base_model(
    name: str,
    *,
    path: str = "",
    hub_id: str = "",
    chat_template_source: str = ChatTemplateSource.TOKENIZER,
    chat_template_name: str = "",
    chat_template: str = "",
    trust_remote_code: bool = False,
    enabled_for_all: bool = True,
    organization=None,
    source_job=None,
    root_base=None,
) -> BaseModel:
    """Validate and save (or refresh) a base model. ``trust_remote_code`` is for operators' calls only."""
    source, info = check_base_model(
        path=path,
        hub_id=hub_id,
        chat_template_source=chat_template_source,
        chat_template_name=chat_template_name,
        chat_template=chat_template,
        trust_remote_code=trust_remote_code,
    )
    model, _ = BaseModel.objects.update_or_create(
        name=name,
        defaults={
            "path": source if path else "",
            "hub_id": hub_id,
            "architecture": info["architecture"],
            "parameter_count": info["parameter_count"],
            "context_length": info["context_length"],
            "chat_template_source": chat_template_source,
            "chat_template_name": chat_template_name,
            "chat_template": chat_template,
            "trust_remote_code": trust_remote_code,
            "enabled_for_all": enabled_for_all,
            "organization": organization,
            "source_job": source_job,
            "root_base": root_base,
            "is_valid": True,
            "validation_error": "",
        },
    )
    return model


def chat_template_for(model: BaseModel) -> str | None:
    """What the trainer and the engines are given: None means the tokenizer's own template."""
    if model.chat_template_source == ChatTemplateSource.NAMED:
        return model.chat_template_name
    if model.chat_template_source == ChatTemplateSource.CUSTOM:
        return model.chat_template
    return None
