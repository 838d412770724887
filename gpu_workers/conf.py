"""The timings workers live by, read from settings at call time (tests and operators may change them).

Heartbeats every ``DEVICE_HEARTBEAT_SECONDS``; a device silent for ``DEVICE_OFFLINE_AFTER_SECONDS`` is
offline; a runner renews its devices' lease every heartbeat, and a lease not renewed for
``DEVICE_LEASE_SECONDS`` means its runner is gone; a lost job is retried until ``JOB_MAX_ATTEMPTS``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def heartbeat_seconds() -> float:
    return float(getattr(settings, "DEVICE_HEARTBEAT_SECONDS", 5))


def offline_after_seconds() -> float:
    return float(getattr(settings, "DEVICE_OFFLINE_AFTER_SECONDS", 30))


def reconcile_seconds() -> float:
    """How often the fleet reconciles: a few times per offline timeout, by one worker at a time."""
    return max(heartbeat_seconds(), offline_after_seconds() / 4)


def lease_seconds() -> float:
    return float(getattr(settings, "DEVICE_LEASE_SECONDS", 60))


def placement_grace_seconds() -> float:
    return float(getattr(settings, "PLACEMENT_GRACE_SECONDS", 10))


def max_attempts() -> int:
    return int(getattr(settings, "JOB_MAX_ATTEMPTS", 3))


def check() -> None:
    """Refuse timings that would declare healthy workers dead."""
    beat = heartbeat_seconds()
    if beat <= 0:
        raise ImproperlyConfigured("DEVICE_HEARTBEAT_SECONDS must be above 0")
    for name, value in (
        ("DEVICE_OFFLINE_AFTER_SECONDS", offline_after_seconds()),
        ("DEVICE_LEASE_SECONDS", lease_seconds()),
    ):
        if value < 3 * beat:
            raise ImproperlyConfigured(
                f"{name} ({value:g}) must be at least three heartbeats (3 x {beat:g} s), or a busy "
                "but healthy worker would be declared dead"
            )
    if max_attempts() < 1:
        raise ImproperlyConfigured("JOB_MAX_ATTEMPTS must be at least 1")
