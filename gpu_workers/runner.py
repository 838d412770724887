"""The one place that owns a job's run (NetBox's JobRunner role).

It marks the job running, materialises its data, starts ``python -m training_app.trainer`` in its own
process group with the leased devices in CUDA_VISIBLE_DEVICES (``torchrun`` for several GPUs), records
every event the trainer writes on a pipe as a ``JobEvent`` (and pushes it), renews the device lease,
watches for a cancel, uploads the artifacts, and sets the final status. Whatever happens, it releases
the devices and lets the scheduler place the next job.
"""

from __future__ import annotations

import collections
import ctypes
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from gpu_workers.models import Device, DeviceKind
from gpu_workers.scheduler import LEASE_SECONDS, job_stopped
from llm_platform.errors import Conflict
from training_app.base_models import chat_template_for
from training_app.events import record_event
from training_app.models import JobEvent, JobStatus, TrainingJob
from training_app.states import transition
from training_app.trainer.spec import Hyperparameters, JobSpec

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
STATUS_CHECK_SECONDS = 1.0
KILL_GRACE_SECONDS = 3
TAIL_LINES = 50
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the trainer before exec: if the worker is SIGKILLed, the kernel kills the trainer too."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def run_job(job_id: int, device_ids: list[int], lease_token: str = "") -> str:
    """RQ entry point. Returns the final status."""
    return JobRunner(job_id, device_ids, lease_token).run()


class JobRunner:
    def __init__(self, job_id: int, device_ids: list[int], lease_token: str = ""):
        self.job_id = job_id
        self.device_ids = device_ids
        self.lease_token = lease_token
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.error_reason = ""
        self.done = False
        self.last_metric_step = -1

    # --- lifecycle -------------------------------------------------------------------------------
    def run(self) -> str:
        job = TrainingJob.objects.select_related("base_model", "organization").get(pk=self.job_id)
        try:
            job = transition(
                job,
                JobStatus.RUNNING,
                reason="started",
                worker=f"{socket.gethostname()}:{os.getpid()}",
                attempts=job.attempts + 1,
                expect={"rq_job_id": self.lease_token} if self.lease_token else None,
            )
        except Conflict:
            status = TrainingJob.objects.get(pk=self.job_id).status
            if status != JobStatus.RUNNING:  # cancelled while it waited; a running one is another's to free
                job_stopped(self.job_id, self.lease_token)
            return status
        try:
            return self._run(job)
        except Exception as exc:  # noqa: BLE001 - a runner bug must still end the job, not hang it
            logger.exception("runner failed for job %s", self.job_id)
            self._finish_failed(f"The worker failed: {type(exc).__name__}: {exc}")
            return JobStatus.FAILED
        finally:
            logger.info("job %s: runner done", self.job_id)
            # Only what this run held: after a cancel and a quick retry the job may hold others already.
            job_stopped(self.job_id, self.lease_token)

    def _run(self, job: TrainingJob) -> str:
        devices = list(Device.objects.filter(pk__in=self.device_ids).order_by("index"))
        work_dir = Path(settings.WORK_DIR) / "jobs" / str(job.uid)
        output_dir = work_dir / "output"
        output_dir.mkdir(parents=True, exist_ok=True)
        self.last_metric_step = self._recorded_metric_step()
        self.log(f"Running on {', '.join(str(d) for d in devices) or 'this host'}; attempt {job.attempts}")
        spec = self._build_spec(job, devices, work_dir, output_dir)
        spec_path = spec.save(work_dir / "spec.json")
        returncode, cancelled = self._supervise(self._command(spec_path, devices), self._env(devices))
        if cancelled:
            logger.info("job %s: trainer stopped after a cancel", self.job_id)
            self.log("Stopped: the job was cancelled.", level="warning")
            return JobStatus.CANCELLED
        if returncode == 0 and self.done:
            return self._finish_succeeded(job, output_dir)
        reason = self.error_reason or f"The trainer exited with code {returncode}."
        self._finish_failed(reason)
        return JobStatus.FAILED

    # --- inputs ----------------------------------------------------------------------------------
    def _build_spec(self, job: TrainingJob, devices, work_dir: Path, output_dir: Path) -> JobSpec:
        from datasets_app.materialise import materialise_for_job

        hp = dict(job.hyperparameters)
        data = materialise_for_job(
            list(job.job_datasets.select_related("dataset")),
            work_dir / "data",
            seed=job.seed,
            val_ratio=float(hp.get("val_ratio") or 0),
        )
        hp["val_ratio"] = 0.0  # the split is done above, reproducibly, and recorded with the job
        has_checkpoint = any(output_dir.glob("checkpoint-*"))
        return JobSpec(
            model_path=job.base_model.path or job.base_model.hub_id,
            output_dir=str(output_dir),
            train_files=[str(data.train_path)],
            eval_files=[str(data.val_path)] if data.val_path else [],
            stage=job.stage,
            method=job.method,
            hyperparameters=Hyperparameters.from_dict(hp),
            resume_from_checkpoint="latest" if has_checkpoint else None,
            seed=job.seed,
            chat_template=chat_template_for(job.base_model),
            trust_remote_code=job.base_model.trust_remote_code,
            devices={"kind": devices[0].kind if devices else "cpu", "indexes": [d.index for d in devices]},
        )

    def _command(self, spec_path: Path, devices) -> list[str]:
        gpus = [d for d in devices if d.kind == DeviceKind.GPU]
        trainer = ["-m", "training_app.trainer", str(spec_path)]
        if len(gpus) > 1:
            return [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={len(gpus)}",
                *trainer,
            ]
        return [sys.executable, *trainer]

    def _env(self, devices) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        gpus = [str(d.index) for d in devices if d.kind == DeviceKind.GPU]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        env["HF_HUB_OFFLINE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = str(settings.BASE_DIR)
        return env

    # --- supervision -----------------------------------------------------------------------------
    def _supervise(self, argv: list[str], env: dict[str, str]) -> tuple[int, bool]:
        read_fd, write_fd = os.pipe()
        env["TUNEFORGE_EVENTS_FD"] = str(write_fd)
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=settings.BASE_DIR,
            pass_fds=(write_fd,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
        )
        os.close(write_fd)
        threading.Thread(target=self._read_output, args=(proc.stdout,), daemon=True).start()
        events = os.fdopen(read_fd, "r", encoding="utf-8", errors="replace")
        cancelled = False
        next_check = 0.0
        try:
            while True:
                ready, _, _ = select.select([events], [], [], POLL_SECONDS)
                if ready:
                    line = events.readline()
                    if not line:
                        break  # the trainer closed the pipe: it is exiting
                    self._handle_line(line)
                # Checked on a clock, not only when the pipe is quiet: a busy trainer writes constantly.
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + STATUS_CHECK_SECONDS
                    if self._status() != JobStatus.RUNNING:
                        cancelled = True  # cancelled, or requeued by the reconciler: stop this run
                        break
                    self._renew_lease()
                if not ready and proc.poll() is not None:
                    break
        finally:
            if cancelled or proc.poll() is None:
                self._stop(proc, wait=not cancelled)
            for line in events:
                self._handle_line(line)
            events.close()
        return proc.wait(), cancelled

    def _stop(self, proc: subprocess.Popen, wait: bool) -> None:
        if wait:
            try:
                proc.wait(timeout=30)  # the pipe closed: give the trainer time to exit on its own
                return
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=KILL_GRACE_SECONDS)
                return
            except subprocess.TimeoutExpired:
                continue

    def _read_output(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip()
            if text:
                self.tail.append(text)
        stream.close()

    def _handle_line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            self.tail.append(line.rstrip())
            return
        kind = event.pop("type", "log")
        event.pop("ts", None)
        if kind == "log":
            record_event(
                self.job_id, "log", {"message": event.get("message", "")}, level=event.get("level", "info")
            )
        elif kind == "metric":
            step = int(event.get("step") or 0)
            if step <= self.last_metric_step and event.get("eval_loss") is None:
                return  # replayed after a resume: never record a step twice
            self.last_metric_step = max(self.last_metric_step, step)
            record_event(self.job_id, "metric", event)
        elif kind == "progress":
            TrainingJob.objects.filter(pk=self.job_id).update(
                current_step=event.get("step") or 0, total_steps=event.get("total_steps") or 0
            )
            record_event(self.job_id, "progress", event)
        elif kind == "checkpoint":
            TrainingJob.objects.filter(pk=self.job_id).update(last_checkpoint_step=event.get("step"))
            record_event(self.job_id, "checkpoint", event)
        elif kind == "eval":
            TrainingJob.objects.filter(pk=self.job_id).update(
                report=event.get("report") or {}, base_report=event.get("base_report") or {}
            )
            record_event(self.job_id, "eval", event)
        elif kind == "done":
            self.done = True
        elif kind == "error":
            self.error_reason = event.get("reason") or "The trainer reported an error."
            detail = event.get("detail") or ""
            record_event(
                self.job_id, "log", {"message": self.error_reason, "detail": detail[-4000:]}, level="error"
            )

    # --- helpers ---------------------------------------------------------------------------------
    def log(self, message: str, level: str = "info") -> None:
        record_event(self.job_id, "log", {"message": message}, level=level)

    def _status(self) -> str:
        return TrainingJob.objects.filter(pk=self.job_id).values_list("status", flat=True).get()

    def _renew_lease(self) -> None:
        Device.objects.filter(leased_job_id=self.job_id, lease_token=self.lease_token).update(
            lease_expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS)
        )

    def _recorded_metric_step(self) -> int:
        steps = JobEvent.objects.filter(job_id=self.job_id, type="metric").values_list(
            "payload__step", flat=True
        )
        return max((int(s) for s in steps if s is not None), default=-1)

    def _finish_succeeded(self, job: TrainingJob, output_dir: Path) -> str:
        from training_app.artifacts import job_prefix, upload_directory

        prefix = job_prefix(job)
        files = upload_directory(output_dir, prefix)
        report = TrainingJob.objects.filter(pk=self.job_id).values_list("report", flat=True).get()
        if not report and (output_dir / "eval_report.json").exists():
            report = json.loads((output_dir / "eval_report.json").read_text())
        try:
            transition(
                self.job_id,
                JobStatus.SUCCEEDED,
                reason="finished",
                artifacts_prefix=prefix,
                artifacts={"files": files},
                report=report or {},
            )
        except Conflict:
            return self._status()  # cancelled in the last instant: keep the cancel
        return JobStatus.SUCCEEDED

    def _finish_failed(self, reason: str) -> None:
        tail = "\n".join(self.tail)
        if tail:
            self.log(f"Last {len(self.tail)} lines of trainer output:\n{tail}", level="error")
        try:
            transition(self.job_id, JobStatus.FAILED, reason=reason, error=reason)
        except Conflict:
            pass  # already cancelled or finished
