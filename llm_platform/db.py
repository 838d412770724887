"""Database writes that outlive a locked or briefly unavailable database, and writes that may be skipped.

Workers, the serving supervisor and the gateway must not lose an event, a heartbeat or a usage count, nor
crash, because SQLite's write lock was held for a few seconds or PostgreSQL dropped or refused its
connections (a restart, a failover, ``pg_terminate_backend``). :func:`retrying` runs a short unit of
database work again, on a fresh connection, with backoff, for up to ``DATABASE_RETRY_SECONDS``. The unit
must be safe to run again after a failure: one statement, or one transaction (a transaction that failed
was rolled back, so nothing of it was written).

:func:`best_effort` is for writes a request must neither wait long on nor fail for (an API key's last-used
time): it waits at most a fraction of a second for a lock, and a failure is logged and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY = 0.1  # seconds before the first retry; doubled after each failure
MAX_DELAY = 2.0
# PostgreSQL SQLSTATEs worth another try besides class 08 (connection exceptions): the server shutting
# down, crashed or starting (57P01-57P03), serialization failures and deadlocks (40001, 40P01), a lock
# not granted within lock_timeout (55P03), too many connections (53300).
RETRY_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01", "55P03", "53300"})
BEST_EFFORT_WAIT = 0.25  # seconds a skippable write waits for a lock


def is_transient(exc: BaseException) -> bool:
    """Would the same work succeed later? A lock or a lost connection: yes; a bad query or data: no."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    if connection.vendor == "sqlite":
        message = str(exc).lower()
        return "locked" in message or "busy" in message
    state = getattr(exc.__cause__, "sqlstate", None)
    if state is None:
        return True  # no answer from a server at all: refused, dropped, or a connection already closed
    return state.startswith("08") or state in RETRY_SQLSTATES


def retry_seconds() -> float:
    return float(getattr(settings, "DATABASE_RETRY_SECONDS", 60))


def retrying(work: Callable[[], T], *, what: str, seconds: float | None = None) -> T:
    """``work()``, run again while it fails for a transient reason, for up to ``seconds``
    (``DATABASE_RETRY_SECONDS`` by default); then the last error is raised.

    Inside an outer transaction it runs once: a failed statement spoils the whole transaction, so only
    whoever opened it can run it again.
    """
    if connection.in_atomic_block:
        return work()
    deadline = time.monotonic() + (retry_seconds() if seconds is None else seconds)
    delay = FIRST_DELAY
    failures = 0
    while True:
        try:
            result = work()
        except (OperationalError, InterfaceError) as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                if failures:
                    logger.error("%s: gave up after %d tries: %s", what, failures + 1, exc)
                raise
            failures += 1
            if failures == 1:
                left = deadline - time.monotonic()
                logger.warning("%s: the database refused (%s); retrying for up to %.0f s", what, exc, left)
            # A dropped connection stays broken until closed; a fresh one is opened by the next query.
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if failures:
            logger.warning("%s: done after %d tries", what, failures + 1)
        return result


def best_effort(work: Callable[[], T], *, what: str, wait: float = BEST_EFFORT_WAIT) -> T | None:
    """``work()`` waiting at most ``wait`` seconds for a lock; None (logged) when the database is locked
    or unavailable. For writes that only record something and must never fail or stall a request."""
    try:
        with _lock_wait(wait):
            return work()
    except (OperationalError, InterfaceError) as exc:
        if not is_transient(exc):
            raise
        logger.warning("%s: skipped (%s)", what, exc)
        if not connection.in_atomic_block:
            connection.close()  # perhaps broken: the next request gets a fresh one
        return None


@contextlib.contextmanager
def _lock_wait(seconds: float) -> Iterator[None]:
    """The database waits at most ``seconds`` for a lock inside this block (SQLite: the busy timeout;
    PostgreSQL: lock_timeout of a transaction of its own)."""
    milliseconds = max(1, int(seconds * 1000))
    if connection.vendor == "sqlite":
        usual = int(float(connection.settings_dict["OPTIONS"].get("timeout", 5)) * 1000)
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {milliseconds}")
        try:
            yield
        finally:
            with contextlib.suppress(OperationalError, InterfaceError), connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {usual}")
    elif connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"])
            yield
    else:
        yield
