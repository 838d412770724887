"""OpenAI-style ids for platform objects, and the names of the models a job makes.

Ids are derived from the objects' UUIDs, so nothing new is stored: ``file-<hex>`` is a dataset,
``ftjob-<hex>`` a training job. A job's model is ``ft:<base>:<org>:<suffix>:<short id>`` as OpenAI names
them; a checkpoint's adds ``:ckpt-step-<N>``.
"""

from __future__ import annotations

import re
import uuid

FILE_PREFIX = "file-"
JOB_PREFIX = "ftjob-"
EVENT_PREFIX = "ftevent-"
CHECKPOINT_PREFIX = "ftckpt-"
MODEL_PREFIX = "ft:"
CHECKPOINT_MARK = ":ckpt-step-"
SHORT_ID = 8
_HEX = re.compile(r"^[0-9a-f]{32}$")
_CHECKPOINT = re.compile(r"^(?P<model>.+):ckpt-step-(?P<step>[0-9]{1,9})$")


def file_id(dataset) -> str:
    return f"{FILE_PREFIX}{dataset.uid.hex}"


def job_id(job) -> str:
    return f"{JOB_PREFIX}{job.uid.hex}"


def uid_of(given: object, prefix: str) -> uuid.UUID | None:
    """The UUID inside an id of ours (``None`` for anything else: the caller answers 404)."""
    if not isinstance(given, str) or not given.startswith(prefix):
        return None
    rest = given[len(prefix) :].lower()
    return uuid.UUID(rest) if _HEX.match(rest) else None


def event_id(job, seq: int) -> str:
    return f"{EVENT_PREFIX}{job.uid.hex[:SHORT_ID]}-{seq}"


def seq_of_event(given: str) -> int | None:
    _, _, seq = (given or "").rpartition("-")
    return int(seq) if seq.isdigit() and given.startswith(EVENT_PREFIX) else None


def checkpoint_id(job, step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{job.uid.hex[:SHORT_ID]}-{step}"


def fine_tuned_model(job) -> str:
    options = job.api_options or {}
    suffix = options.get("suffix") or ""
    return f"{MODEL_PREFIX}{job.base_model.name}:{job.organization.slug}:{suffix}:{job.uid.hex[:SHORT_ID]}"


def checkpoint_model(job, step: int) -> str:
    return f"{fine_tuned_model(job)}{CHECKPOINT_MARK}{step}"


def parse_model(name: str) -> tuple[str, int | None] | None:
    """(short job id, checkpoint step or None) of a ``ft:`` model name, or None if it is not one."""
    if not name.startswith(MODEL_PREFIX):
        return None
    step = None
    found = _CHECKPOINT.match(name)
    if found:
        name, step = found["model"], int(found["step"])
    short = name.rpartition(":")[2]
    if len(short) != SHORT_ID or not all(c in "0123456789abcdef" for c in short):
        return None
    return short, step
