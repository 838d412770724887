"""RQ queue names: one queue per device, so a job lands on the worker bound to the device it leased."""

from __future__ import annotations

import django_rq
from redis import Redis
from rq import Queue


def device_queue_name(slot: str, host: str) -> str:
    return f"tuneforge.{host}.{slot}"


def redis_connection() -> Redis:
    return django_rq.get_connection("default")


def get_queue(name: str) -> Queue:
    """Device queues are made on the fly (django-rq only knows the queues named in settings)."""
    return Queue(name, connection=redis_connection())
