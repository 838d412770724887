"""OpenAI's fine-tuning requests, translated to the platform's own services (the portal's and REST API's).

A ``/v1/files`` upload is a dataset (the same streaming ingest); a ``/v1/fine_tuning/jobs`` job is a
TrainingJob (LoRA, on the same scheduler). What is OpenAI-only (suffix, metadata, hyperparameters as asked,
"auto" included) is kept in the job's ``api_options``; "auto" is resolved from the data size and recorded.
"""

from __future__ import annotations

import math
import uuid

from django.db.models import Q
from django.db.models.fields.json import KeyTransform

from datasets_app import services as datasets
from datasets_app.models import Dataset, DatasetKind, DatasetStatus
from gpu_workers.models import Device, DeviceKind
from llm_platform.errors import DomainError, NotFound
from llm_platform.tenancy import scoped
from serving_app.openai_ft import ids
from training_app import services as training
from training_app.models import BaseModel, TrainingJob

PURPOSE = "fine-tune"
HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
BOUNDS = {"n_epochs": (1, 50), "batch_size": (1, 256), "learning_rate_multiplier": (0.001, 100.0)}
BASE_LEARNING_RATE = {"supervised": 2e-4, "dpo": 5e-5}
METHODS = ("supervised", "dpo")
MAX_METADATA = 16
# The training service's field names, as OpenAI's request calls them (the rest are hyperparameters).
PARAM_OF_FIELD = {
    "base_model": "model",
    "datasets[0]": "training_file",
    "datasets": "training_file",
    "seed": "seed",
}


class ModelNotFound(NotFound):
    code = "model_not_found"


def bad(message: str, param: str, code: str = "invalid_value") -> DomainError:
    return DomainError(message, fields={"param": param}, code=code)


# --- files ---------------------------------------------------------------------------------------


def upload_file(org, user, uploaded_file, purpose: object, cancelled=None) -> Dataset:
    if purpose != PURPOSE:
        raise bad(f"purpose must be '{PURPOSE}' (got {purpose!r}).", "purpose")
    return datasets.create_dataset(org, user, uploaded_file, cancelled=cancelled)


def get_file(org, given: str) -> Dataset:
    uid = ids.uid_of(given, ids.FILE_PREFIX)
    dataset = Dataset.objects.filter(organization=org, uid=uid).first() if uid else None
    if dataset is None:
        raise NotFound(f"No such File object: {given}", code="file_not_found")
    return dataset


def result_job(org, given: str) -> TrainingJob | None:
    """The job whose metrics CSV ``given`` names (a result file shares its job's UUID)."""
    uid = ids.uid_of(given, ids.FILE_PREFIX)
    return TrainingJob.objects.filter(organization=org, uid=uid).first() if uid else None


def page(queryset, *, after: object, limit: int, order: str, lookup) -> tuple[list, bool]:
    """One page of ``queryset`` by primary key after the object ``after`` names, and whether more follow."""
    descending = order == "desc"
    queryset = queryset.order_by("-pk" if descending else "pk")
    if after:
        anchor = lookup(after)
        queryset = queryset.filter(pk__lt=anchor.pk) if descending else queryset.filter(pk__gt=anchor.pk)
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


# --- jobs ----------------------------------------------------------------------------------------


def get_job(org, given: str) -> TrainingJob:
    uid = ids.uid_of(given, ids.JOB_PREFIX)
    job = scoped(TrainingJob.objects.all(), org).filter(uid=uid).first() if uid else None
    if job is None:
        raise NotFound(f"No such fine-tuning job: {given}", code="fine_tuning_job_not_found")
    return job


def filter_jobs(queryset, metadata: dict[str, str]):
    """Jobs whose metadata has each ``key`` set to its value. Keys are looked up as JSON keys, whatever
    they contain (never read as ORM lookups)."""
    for index, (key, value) in enumerate(metadata.items()):
        alias = f"metadata_{index}"
        queryset = queryset.annotate(**{alias: KeyTransform(key, KeyTransform("metadata", "api_options"))})
        queryset = queryset.filter(**{alias: value})
    return queryset


def _base_model(org, name: object) -> BaseModel:
    if not isinstance(name, str) or not name:
        raise bad("Give the model to fine-tune in 'model'.", "model", "missing_model")
    visible = scoped(BaseModel.objects.all(), org)
    parsed = ids.parse_model(name)
    if parsed is not None and parsed[1] is None:
        # Training on from a fine-tuned model: its output registered as a base model (the portal's "use as
        # base"), found by the job it came from.
        for base in visible.filter(source_job__isnull=False).select_related("source_job"):
            if base.source_job.uid.hex.startswith(parsed[0]):
                return base
    base = visible.filter(name=name).first()
    if base is None:
        raise ModelNotFound(
            f"The model `{name}` does not exist or you do not have access to it.", fields={"param": "model"}
        )
    return base


def _training_dataset(org, given: object, param: str) -> Dataset:
    if not isinstance(given, str) or not given:
        raise bad(f"Give the file id in '{param}'.", param, "missing_file")
    try:
        dataset = get_file(org, given)
    except NotFound:
        raise bad(
            f"Invalid file id {given!r}: no such file in this organization.", param, "invalid_file"
        ) from None
    if dataset.status != DatasetStatus.READY:
        state = "still being processed" if dataset.status != DatasetStatus.FAILED else "not valid"
        detail = f": {dataset.error_message}" if dataset.error_message else ""
        raise bad(f"File {given} is {state}{detail}", param, "invalid_file")
    return dataset


def _method(body: dict) -> tuple[str, dict]:
    """(type, its hyperparameters as given) from ``method``, or the top-level ``hyperparameters``."""
    method = body.get("method")
    if method is None:
        hp = body.get("hyperparameters") or {}
        if not isinstance(hp, dict):
            raise bad("hyperparameters must be an object.", "hyperparameters")
        return "supervised", hp
    if not isinstance(method, dict) or not isinstance(method.get("type"), str):
        raise bad("method must be an object with a 'type'.", "method")
    kind = method["type"]
    if kind == "reinforcement":
        raise bad(
            "Reinforcement fine-tuning (graders) is not supported: use 'supervised' or 'dpo'.",
            "method.type",
            "unsupported_method",
        )
    if kind not in METHODS:
        raise bad(f"method.type must be one of {', '.join(METHODS)} (got {kind!r}).", "method.type")
    given = method.get(kind) or {}
    hp = given.get("hyperparameters", {}) if isinstance(given, dict) else None
    if not isinstance(hp, dict):
        raise bad(f"method.{kind}.hyperparameters must be an object.", f"method.{kind}.hyperparameters")
    if body.get("hyperparameters"):
        raise bad("Give hyperparameters either at the top level or in method, not both.", "hyperparameters")
    return kind, hp


def resolve_hyperparameters(kind: str, given: dict, rows: int) -> dict:
    """Each of OpenAI's hyperparameters as a number, "auto" resolved from the data size."""
    prefix = "hyperparameters" if kind == "supervised" else f"method.{kind}.hyperparameters"
    allowed = (*HYPERPARAMETERS, "beta") if kind == "dpo" else HYPERPARAMETERS
    for key in given:
        if key not in allowed:
            raise bad(f"Unknown hyperparameter {key!r}: use {', '.join(allowed)}.", f"{prefix}.{key}")
    auto = {
        "n_epochs": min(10, max(1, math.ceil(300 / max(rows, 1)))),
        "batch_size": max(1, min(16, rows // 20)),
        "learning_rate_multiplier": 1.0,
        "beta": 0.1,
    }
    resolved = {}
    for key in allowed:
        value = given.get(key, "auto")
        if value == "auto":
            resolved[key] = auto[key]
            continue
        whole = key in ("n_epochs", "batch_size")
        low, high = BOUNDS.get(key, (0.0, 2.0))
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not number_ok or (whole and value != int(value)) or not low <= value <= high or value == 0:
            kind_word = "a whole number" if whole else "a number"
            raise bad(f"{key} must be 'auto' or {kind_word} from {low} to {high}.", f"{prefix}.{key}")
        resolved[key] = int(value) if whole else float(value)
    return resolved


def _trainer_hyperparameters(kind: str, hp: dict, rows: int, base: BaseModel) -> dict:
    steps_per_epoch = max(1, math.ceil(rows / hp["batch_size"]))
    out = {
        "num_train_epochs": hp["n_epochs"],
        "per_device_train_batch_size": hp["batch_size"],
        "gradient_accumulation_steps": 1,
        "learning_rate": BASE_LEARNING_RATE[kind] * hp["learning_rate_multiplier"],
        "save_strategy": "epoch",
        "logging_steps": max(1, steps_per_epoch // 5),
        "max_seq_len": min(1024, base.context_length or 1024),
        "do_eval_generation": False,
        "eval_base_model": False,
    }
    if kind == "dpo":
        out["pref_beta"] = hp["beta"]
    return out


def _metadata(given: object) -> dict:
    if given is None:
        return {}
    if not isinstance(given, dict) or len(given) > MAX_METADATA:
        raise bad(f"metadata must be an object of at most {MAX_METADATA} string pairs.", "metadata")
    for key, value in given.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise bad(
                "metadata keys are at most 64 characters, values strings of at most 512.", f"metadata.{key}"
            )
    return given


def _refuse_unsupported(body: dict) -> None:
    """Fields we cannot honour are refused, never ignored."""
    if body.get("validation_file"):
        raise bad(
            "validation_file is not supported yet: Tuneforge holds out part of training_file instead.",
            "validation_file",
            "unsupported_parameter",
        )
    if body.get("integrations"):
        raise bad("integrations are not supported.", "integrations", "unsupported_parameter")


def _devices() -> str:
    return "auto" if Device.objects.filter(kind=DeviceKind.GPU).exists() else "cpu"


def create_job(org, user, body: dict) -> TrainingJob:
    unknown = set(body) - {
        "model", "training_file", "validation_file", "suffix", "seed", "metadata", "hyperparameters",
        "method", "integrations",
    }  # fmt: skip
    if unknown:
        name = sorted(unknown)[0]
        raise bad(f"Unknown parameter {name!r}.", name, "unknown_parameter")
    _refuse_unsupported(body)
    base = _base_model(org, body.get("model"))
    kind, given = _method(body)
    dataset = _training_dataset(org, body.get("training_file"), "training_file")
    wanted = DatasetKind.PREFERENCE if kind == "dpo" else DatasetKind.SFT
    if dataset.kind != wanted:
        raise bad(
            f"File {body['training_file']} holds {dataset.kind} rows; a {kind} job needs {wanted} rows.",
            "training_file",
            "invalid_file",
        )
    suffix = body.get("suffix") or ""
    if not isinstance(suffix, str) or len(suffix) > 40 or not all(c.isalnum() or c in "-_" for c in suffix):
        raise bad("suffix: at most 40 letters, digits, '-' and '_'.", "suffix")
    seed = body.get("seed")
    if seed is None:
        seed = 42
    hp = resolve_hyperparameters(kind, given, dataset.num_rows)
    options = {
        "suffix": suffix,
        "metadata": _metadata(body.get("metadata")),
        "method": kind,
        "hyperparameters": hp,
        "training_file": ids.file_id(dataset),
    }
    try:
        return training.create_job(
            org,
            user,
            name=f"{suffix or 'ft'}-{uuid.uuid4().hex[:8]}",
            base_model=base,
            stage="dpo" if kind == "dpo" else "sft",
            method="lora",
            datasets=[training.DatasetChoice(dataset)],
            hyperparameters=_trainer_hyperparameters(kind, hp, dataset.num_rows, base),
            devices=_devices(),
            seed=seed,
            api_options=options,
        )
    except DomainError as exc:
        if exc.fields and "param" not in exc.fields:
            field = next(iter(exc.fields))
            raise bad(exc.message, PARAM_OF_FIELD.get(field, "hyperparameters"), exc.code) from None
        raise


def visible_jobs(org):
    return scoped(TrainingJob.objects.all(), org).select_related("base_model", "organization")


def jobs_with_models(org) -> Q:
    """Jobs whose fine-tuned model answers (succeeded or published, created through this API)."""
    return Q(organization=org, status__in=("succeeded", "published")) & ~Q(api_options={})
