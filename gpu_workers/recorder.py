"""Turning the trainer's JSON-lines events into a job's ``JobEvent`` rows, once each.

A resumed run replays the steps between its checkpoint and the point where the lost run stopped: those
metrics are recorded already and are skipped, so a job's curve never has a step twice. What a lost run
trained but its runner never got to record is caught up from the run's events file before resuming.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from llm_platform.db import retrying
from training_app.events import record_event
from training_app.models import JobEvent, TrainingJob


class EventRecorder:
    def __init__(
        self,
        job_id: int,
        note: Callable[[str], None],
        on_checkpoint: Callable[[Path, int], None] | None = None,
        hide: Callable = lambda value: value,
    ):
        self.job_id = job_id
        self.hide = hide  # takes server paths out of what the trainer says, before anyone can read it
        self.note = note  # keeps a line for the tail shown when the run fails
        self.on_checkpoint = on_checkpoint  # a new checkpoint on disk (it is copied to storage)
        self.done = False
        self.error_reason = ""
        steps = retrying(
            lambda: list(
                JobEvent.objects.filter(job_id=job_id, type="metric").values_list("payload__step", flat=True)
            ),
            what=f"the recorded steps of job {job_id}",
        )
        self.last_metric_step = max((int(s) for s in steps if s is not None), default=-1)

    def handle(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            self.note(self.hide(line.rstrip()))
            return
        if not isinstance(event, dict):
            self.note(self.hide(line.rstrip()))
            return
        event = self.hide(event)
        kind = event.pop("type", "log")
        event.pop("ts", None)
        if kind == "log":
            message = event.get("message", "")
            self.note(message)
            record_event(self.job_id, "log", {"message": message}, level=event.get("level", "info"))
        elif kind == "metric":
            step = int(event.get("step") or 0)
            if step <= self.last_metric_step and event.get("eval_loss") is None:
                return  # replayed after a resume: never record a step twice
            self.last_metric_step = max(self.last_metric_step, step)
            record_event(self.job_id, "metric", event)
        elif kind == "progress":
            self._update(current_step=event.get("step") or 0, total_steps=event.get("total_steps") or 0)
            record_event(self.job_id, "progress", event)
        elif kind == "checkpoint":
            self._update(last_checkpoint_step=event.get("step"))
            record_event(self.job_id, "checkpoint", event)
            if self.on_checkpoint is not None and event.get("path") and event.get("step"):
                self.on_checkpoint(Path(event["path"]), int(event["step"]))
        elif kind == "eval":
            # Both reports are kept: the page shows the base model's column after a reload too.
            self._update(report=event.get("report") or {}, base_report=event.get("base_report") or {})
            record_event(self.job_id, "eval", event)
        elif kind == "done":
            self.done = True
        elif kind == "error":
            self.error_reason = event.get("reason") or "The trainer reported an error."
            detail = event.get("detail") or ""
            self.note(self.error_reason)
            record_event(
                self.job_id, "log", {"message": self.error_reason, "detail": detail[-4000:]}, level="error"
            )

    def catch_up(self, events_path: Path) -> bool:
        """Record what a lost run of this job trained but its runner never recorded (the resumed trainer
        starts after the newest checkpoint, so without these steps the curve would have a gap). True
        when that run had finished training: its output is complete and only needs uploading."""
        if not events_path.exists():
            return False
        finished = False
        for line in events_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind, step = event.get("type"), event.get("step") or 0
            if kind in ("metric", "eval") or (kind == "checkpoint" and step > self._checkpoint_step()):
                self.handle(line)
            if kind in ("done", "error"):
                finished = kind == "done"
        return finished

    def _update(self, **fields) -> None:
        """The job row's copy of the trainer's progress; setting values, so safe to retry."""
        retrying(
            lambda: TrainingJob.objects.filter(pk=self.job_id).update(**fields),
            what=f"the progress of job {self.job_id}",
        )

    def _checkpoint_step(self) -> int:
        step = retrying(
            lambda: (
                TrainingJob.objects.filter(pk=self.job_id)
                .values_list("last_checkpoint_step", flat=True)
                .get()
            ),
            what=f"the checkpoint step of job {self.job_id}",
        )
        return step or 0
