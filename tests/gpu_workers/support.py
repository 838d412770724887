"""Helpers for worker tests: tiny jobs, waiting on statuses, the running intervals of jobs, and the
lease invariant (no device holds two jobs, no active job holds devices of another placement)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime

import psutil
from django.conf import settings

from gpu_workers.models import Device
from tests.workers import WorkerPool, wait_for, worker_env
from training_app import services
from training_app.models import JobEvent, JobStatus, TrainingJob

TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
TINY = {
    "max_steps": 4,
    "logging_steps": 1,
    "save_steps": 1000,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 32,
    "learning_rate": 1e-3,
    "do_eval_generation": False,
    "eval_base_model": False,
}
# Long enough to be caught mid-run (the tiny model trains tens of steps a second), with checkpoints.
LONG = {**TINY, "max_steps": 400, "save_steps": 5}


def submit(org, user, dataset, model, name: str, devices: str = "cpu", **hp) -> TrainingJob:
    return services.create_job(
        org,
        user,
        name=name,
        base_model=model,
        datasets=[services.DatasetChoice(dataset)],
        hyperparameters={**TINY, **hp},
        devices=devices,
    )


def wait_status(job_id: int, statuses, timeout: float = 120) -> TrainingJob:
    return wait_for(
        lambda: TrainingJob.objects.filter(pk=job_id, status__in=list(statuses)).first(),
        timeout=timeout,
        message=f"job {job_id} to reach {list(statuses)}",
    )


def wait_all_done(job_ids, timeout: float = 180) -> list[TrainingJob]:
    wait_for(
        lambda: TrainingJob.objects.filter(pk__in=job_ids, status__in=TERMINAL).count() == len(job_ids),
        timeout=timeout,
        message=f"jobs {list(job_ids)} to finish",
    )
    return list(TrainingJob.objects.filter(pk__in=job_ids).order_by("pk"))


@dataclass
class Run:
    job: int
    device: str
    start: datetime
    end: datetime

    def overlaps(self, other: Run) -> bool:
        return self.start < other.end and other.start < self.end


def runs(job_ids) -> list[Run]:
    """Every running interval of these jobs, from their status events ("started on host:cpu0")."""
    found = []
    for job_id in job_ids:
        events = list(JobEvent.objects.filter(job_id=job_id, type="status").order_by("seq"))
        for event, after in zip(events, [*events[1:], None], strict=True):
            if event.payload["to"] != JobStatus.RUNNING:
                continue
            assert after is not None, f"job {job_id} is still running"
            device = event.payload["reason"].removeprefix("started on ")
            found.append(Run(job_id, device, event.created_at, after.created_at))
    return found


def assert_one_job_per_device(all_runs: list[Run]) -> None:
    for i, a in enumerate(all_runs):
        for b in all_runs[i + 1 :]:
            if a.device == b.device:
                assert not a.overlaps(b), f"jobs {a.job} and {b.job} ran on {a.device} at the same time"


def lease_problems() -> list[str]:
    """The Device lease invariant, checked on the database as it is now."""
    problems = []
    for device in Device.objects.select_related("leased_job"):
        job = device.leased_job
        if job is None:
            continue
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and device.lease_token != job.rq_job_id:
            problems.append(f"{device} holds an old placement of active job {job.pk}")
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING):
        held = Device.objects.filter(leased_job=job, lease_token=job.rq_job_id).count()
        if held != 1:
            problems.append(f"running job {job.pk} holds {held} devices")
    return problems


def trainer_pids(worker: subprocess.Popen) -> list[int]:
    """The trainer processes a worker started (descendants running training_app.trainer)."""
    pids = []
    try:
        for child in psutil.Process(worker.pid).children(recursive=True):
            try:
                if "training_app.trainer" in " ".join(child.cmdline()):
                    pids.append(child.pid)
            except psutil.Error:
                continue
    except psutil.Error:
        return []
    return pids


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def start_multi(pool: WorkerPool, names: list[str]) -> subprocess.Popen:
    """One ``gpuworker`` command serving several devices (a supervisor with one child per device)."""
    argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "gpuworker"]
    for name in names:
        argv += ["--device", name]
    log = open(settings.VAR_DIR / "worker-multi.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        argv,
        env=worker_env(),
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    pool.procs.append(proc)
    wait_for(
        lambda: (
            Device.objects.filter(kind="cpu", status="online", worker_pid__isnull=False)
            .exclude(worker_pid=proc.pid)
            .count()
            == len(names)
        ),
        message=f"workers for {names} to register",
    )
    return proc


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    os.killpg(proc.pid, sig)
    if sig == signal.SIGKILL:
        proc.wait()
