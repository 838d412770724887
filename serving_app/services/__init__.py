"""Serving's business logic: views, the DRF API, Bisheng routes and the supervisor call these."""

from serving_app.services.lifecycle import mark_failed, mark_ready, mark_starting, sync_job_status
from serving_app.services.publish import publish, resolve_engine_kind, unpublish

__all__ = [
    "mark_failed",
    "mark_ready",
    "mark_starting",
    "publish",
    "resolve_engine_kind",
    "sync_job_status",
    "unpublish",
]
