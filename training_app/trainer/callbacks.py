"""Trainer hooks -> trainer events (see events.py for the event format)."""

from __future__ import annotations

import os
import time
from typing import Any

from transformers import TrainerCallback

from training_app.trainer.events import EventEmitter

_METRIC_KEYS = {"loss", "eval_loss", "learning_rate", "grad_norm", "epoch", "num_input_tokens_seen"}
# Trainer's end-of-run summary goes into the trainer report rather than into a step metric.
_SUMMARY_KEYS = {
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
    "total_flos",
    "train_tokens_per_second",
}


class EventsCallback(TrainerCallback):
    """Turns Trainer hooks into metric, progress and checkpoint events."""

    def __init__(self, emitter: EventEmitter, progress_interval_s: float = 1.0):
        self.emitter = emitter
        self.progress_interval_s = progress_interval_s
        self.summary: dict[str, Any] = {}
        self._last_metric_step = -1
        self._last_eval_step = -1
        self._last_progress = 0.0
        self._start_time = 0.0
        self._start_step = 0
        self._tokens_mark: tuple[float, int] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._start_time = time.monotonic()
        self._start_step = state.global_step
        self._tokens_mark = (self._start_time, state.num_input_tokens_seen or 0)
        self._last_metric_step = state.global_step  # a resumed run never re-reports steps it already did
        self.emitter.emit("progress", step=state.global_step, total_steps=state.max_steps, eta_seconds=None)

    def on_step_end(self, args, state, control, **kwargs):
        now = time.monotonic()
        last = state.global_step >= state.max_steps
        if not last and now - self._last_progress < self.progress_interval_s:
            return
        self._last_progress = now
        done = state.global_step - self._start_step
        eta = (now - self._start_time) / done * (state.max_steps - state.global_step) if done else None
        self.emitter.emit("progress", step=state.global_step, total_steps=state.max_steps, eta_seconds=eta)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        summary = {k: logs.pop(k) for k in list(logs) if k in _SUMMARY_KEYS}
        self.summary.update(summary)
        step = state.global_step
        if "eval_loss" in logs and step > self._last_eval_step:
            self._last_eval_step = step
            extra = {k: v for k, v in logs.items() if k.startswith("eval_") and k != "eval_loss"}
            self._metric(step, logs, eval_loss=logs["eval_loss"], extra=extra)
        elif "loss" in logs and step > self._last_metric_step:
            self._last_metric_step = step
            extra = {k: v for k, v in logs.items() if k not in _METRIC_KEYS and isinstance(v, int | float)}
            self._metric(
                step,
                logs,
                loss=logs["loss"],
                learning_rate=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                tokens_per_second=self._tokens_per_second(state),
                tokens_seen=state.num_input_tokens_seen or None,
                extra=extra,
            )

    def _metric(self, step: int, logs: dict[str, Any], **values: Any) -> None:
        # Every metric event carries every field (null when not measured), so consumers need no key checks.
        fields = dict.fromkeys(
            ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "tokens_seen")
        )
        fields.update(values)
        self.emitter.emit("metric", step=step, epoch=logs.get("epoch"), **fields)

    def _tokens_per_second(self, state) -> float | None:
        """Non-padding tokens since the previous metric, over the wall time since then."""
        now, tokens = time.monotonic(), state.num_input_tokens_seen or 0
        if self._tokens_mark is None or tokens == 0:
            return None
        then, before = self._tokens_mark
        self._tokens_mark = (now, tokens)
        return (tokens - before) / (now - then) if now > then else None

    def on_save(self, args, state, control, **kwargs):
        path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        self.emitter.emit("checkpoint", step=state.global_step, path=path)
