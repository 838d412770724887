"""JSON-lines events from the trainer to whoever supervises it (the runner, or a person's terminal).

One JSON object per line, flushed at once, each with ``type`` and ``ts`` (Unix seconds):

- ``log``        {level, message}
- ``metric``     {step, epoch, loss, eval_loss, learning_rate, grad_norm, tokens_per_second, tokens_seen, extra}
- ``progress``   {step, total_steps, eta_seconds}
- ``checkpoint`` {step, path}
- ``eval``       {report}
- ``done``       {output_dir, ...}
- ``error``      {reason, detail}

Under torchrun only global rank 0 writes, so a multi-GPU job produces one stream.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import IO, Any

ENV_EVENTS_FD = "TUNEFORGE_EVENTS_FD"


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def clean_json(value: Any) -> Any:
    """JSON has no NaN/Infinity; a diverged loss becomes null instead of an unparsable line."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return clean_json(value.item())
    return value


class EventEmitter:
    """Writes events to a text stream; disabled emitters (non-zero ranks) drop everything."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = is_main_process() if enabled is None else enabled
        self._lock = threading.Lock()

    @classmethod
    def open(cls, target: str | int | None = None) -> EventEmitter:
        """Events to a file descriptor number, a file path, or (default) stdout; env TUNEFORGE_EVENTS_FD."""
        target = target if target not in (None, "") else os.environ.get(ENV_EVENTS_FD) or None
        if target is None:
            return cls(sys.stdout)
        if isinstance(target, int) or str(target).isdigit():
            return cls(os.fdopen(int(target), "w", encoding="utf-8", buffering=1, closefd=False))
        return cls(open(target, "a", encoding="utf-8", buffering=1))  # noqa: SIM115 - lives as long as the run

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = {"type": type_, "ts": round(time.time(), 3), **clean_json(fields)}
        if self.enabled:
            line = json.dumps(event, ensure_ascii=False)
            with self._lock:
                self.stream.write(line + "\n")
                self.stream.flush()
        return event

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def error(self, reason: str, detail: str = "") -> None:
        self.emit("error", reason=reason, detail=detail)
