"""How long a job ran, over all its attempts (a retried job's "took" counts every run, not the last)."""

from __future__ import annotations

from dataclasses import dataclass

from training_app.models import JobEvent, TrainingJob


@dataclass
class RunTime:
    runs: int  # how many times the job started running
    earlier_seconds: float  # the runs before the newest one, summed
    total_seconds: float | None  # every run, once the job has finished (None while one runs or none did)

    @property
    def words(self) -> str:
        if self.total_seconds is None:
            return ""
        took = f"took {round(self.total_seconds):,} s"
        return f"{took} over {self.runs} attempts" if self.runs > 1 else took


def run_time(job: TrainingJob) -> RunTime:
    """Each run lasts from its status event into ``running`` to the next status event out of it."""
    statuses = JobEvent.objects.filter(job=job, type="status", seq__lte=job.last_seq).order_by("seq")
    durations: list[float] = []
    started = None
    for event in statuses.only("created_at", "payload"):
        if event.payload.get("to") == "running":
            started = event.created_at
        elif started is not None and event.payload.get("from") == "running":
            durations.append((event.created_at - started).total_seconds())
            started = None
    runs = len(durations) + (started is not None)
    if started is not None or not durations:
        return RunTime(runs, sum(durations), None)
    return RunTime(runs, sum(durations[:-1]), sum(durations))
