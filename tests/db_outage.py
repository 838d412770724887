"""Making the test database unavailable for a while, from a connection of its own.

SQLite: another connection holds ``BEGIN EXCLUSIVE`` (in WAL mode readers still read; every writer waits,
then fails with "database is locked"). PostgreSQL: another connection holds ``LOCK TABLE ... IN <mode>``
on the given tables, and with ``terminate`` the other connections to the test database are cut
(``pg_terminate_backend``), as a restart or a failover would.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator

from django.db import connection

POSTGRES = "postgresql"


def vendor() -> str:
    return connection.vendor


class Outage:
    """A held lock; :meth:`release` (from any thread) ends it; :meth:`cut_connections` drops the others."""

    def __init__(self, tables: list[str], mode: str):
        self.lock = threading.Lock()
        self.released = False
        db = connection.settings_dict
        if vendor() == POSTGRES:
            import psycopg

            self.conn = psycopg.connect(
                dbname=db["NAME"],
                user=db["USER"],
                password=db["PASSWORD"] or None,
                host=db["HOST"] or "127.0.0.1",
                port=db["PORT"] or 5432,
            )
            quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
            self.conn.execute(f"LOCK TABLE {quoted} IN {mode} MODE")
        else:
            self.conn = sqlite3.connect(db["NAME"], timeout=30, isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN EXCLUSIVE")

    def cut_connections(self) -> int:
        """PostgreSQL: terminate every other connection to the test database but this process's own."""
        if vendor() != POSTGRES:
            return 0
        spared = [connection.connection.info.backend_pid] if connection.connection is not None else []
        self.conn.execute("SELECT pg_stat_clear_snapshot()")  # else the transaction's first look is reused
        rows = self.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))",
            [spared],
        ).fetchall()
        return len(rows)

    def release(self) -> None:
        with self.lock:
            if self.released:
                return
            self.released = True
            self.conn.rollback()
            self.conn.close()


@contextlib.contextmanager
def database_held(
    tables: list[str], *, mode: str = "ACCESS EXCLUSIVE", release_after: float | None = None
) -> Iterator[Outage]:
    """Hold the database (SQLite) or ``tables`` (PostgreSQL) until the block ends, or ``release_after``
    seconds after it began (from a timer thread), whichever comes first."""
    outage = Outage(tables, mode)
    timer = threading.Timer(release_after, outage.release) if release_after is not None else None
    if timer is not None:
        timer.start()
    try:
        yield outage
    finally:
        if timer is not None:
            timer.cancel()
        outage.release()
