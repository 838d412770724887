"""The one place that owns a job's run (NetBox's JobRunner role).

It marks the job running (only for its own placement: the lease token), materialises its data, starts
``python -m training_app.trainer`` with the leased devices in CUDA_VISIBLE_DEVICES (``torchrun`` for
several GPUs), records every event the trainer writes (``recorder.py``), renews the device lease from a thread of its own, watches for a cancel, uploads the artifacts
and sets the final status. Whatever happens, it releases the devices of its placement and lets the
scheduler place the next job.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from gpu_workers import checkpoints, conf
from gpu_workers.devices import host_name
from gpu_workers.live import push_devices
from gpu_workers.models import Device, DeviceKind, DeviceStatus
from gpu_workers.recorder import EventRecorder
from gpu_workers.scheduler import job_stopped
from gpu_workers.trainer_process import TrainerProcess, exit_reason, stop_leftover
from llm_platform.db import retrying
from llm_platform.errors import Conflict
from training_app.base_models import chat_template_for, hide_paths_in, hide_server_paths
from training_app.events import record_event
from training_app.model_card import write_model_card
from training_app.models import JobStatus, TrainingJob
from training_app.states import transition
from training_app.trainer.disk import says_disk_full
from training_app.trainer.spec import Hyperparameters, JobSpec

# Statuses a user sets while the trainer runs: what it wrote up to the stop is still the job's.
STOPPED_BY_USER = (JobStatus.CANCELLED, JobStatus.PAUSED)
logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
STATUS_CHECK_SECONDS = 0.5
# Set by the worker on a warm shutdown (SIGTERM): stop the trainer and requeue the job to resume.
STOP_REQUESTED = threading.Event()


def cpu_slot_threads(host: str) -> int:
    """Threads for a job on a CPU slot: CPU_SLOT_THREADS, or the host's cores but one (for the worker,
    the web server and the system) shared among its slots. More threads than free cores make torch's
    threads wait on each other: on a busy two-core machine a step then takes a hundred times longer."""
    configured = int(getattr(settings, "CPU_SLOT_THREADS", 0) or 0)
    if configured > 0:
        return configured
    slots = Device.objects.filter(host=host, kind=DeviceKind.CPU).count() or 1
    return max(1, (len(os.sched_getaffinity(0)) - 1) // slots)


def run_job(job_id: int, device_ids: list[int], lease_token: str = "") -> str:
    """RQ entry point. Returns the final status."""
    return JobRunner(job_id, device_ids, lease_token).run()


def worker_failure(exc: Exception, doing: str) -> str:
    """The job's error when the runner itself failed: a full disk says what was being written and what
    to do; anything else is a bug, named as such."""
    if says_disk_full(exc):
        file = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        return f"No space left on device while {doing}{file}. Free space on that disk and retry the job."
    return f"The worker failed: {type(exc).__name__}: {exc}"


class LeaseKeeper(threading.Thread):
    """Renews the placement's lease while the run lasts (uploads included); a lease that stops being
    renewed tells the reconciler that this runner is gone."""

    def __init__(self, job_id: int, token: str):
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.job_id, self.token = job_id, token
        self.done = threading.Event()

    def renew(self) -> None:
        Device.objects.filter(leased_job_id=self.job_id, lease_token=self.token).update(
            lease_expires_at=timezone.now() + timedelta(seconds=conf.lease_seconds())
        )

    def run(self) -> None:
        try:
            while not self.done.wait(conf.heartbeat_seconds()):
                try:
                    retrying(self.renew, what=f"the lease of job {self.job_id}")
                except Exception:  # noqa: BLE001 - retried at the next beat
                    logger.warning("could not renew the lease of job %s", self.job_id, exc_info=True)
        finally:
            connection.close()


class JobRunner:
    def __init__(self, job_id: int, device_ids: list[int], lease_token: str = ""):
        self.job_id = job_id
        self.device_ids = device_ids
        self.lease_token = lease_token
        self.recorder: EventRecorder | None = None
        self.trainer: TrainerProcess | None = None
        self.uploader: checkpoints.CheckpointUploader | None = None
        self.pending: collections.deque[str] = collections.deque()  # read from the trainer, not yet recorded
        self.base_model = None  # its directory is replaced by its name in what users read
        self.doing = "running the job"  # what a failure of the runner itself interrupted

    # --- lifecycle -------------------------------------------------------------------------------
    def run(self) -> str:
        job = TrainingJob.objects.select_related("base_model", "organization").get(pk=self.job_id)
        devices = list(Device.objects.filter(pk__in=self.device_ids).order_by("host", "index"))
        start = {"worker": f"{host_name()}:{os.getpid()}", "attempts": job.attempts + 1}
        try:
            job = retrying(
                lambda: transition(
                    self.job_id,
                    JobStatus.RUNNING,
                    reason=f"started on {', '.join(map(str, devices)) or 'this host'}",
                    expect=self._own_run(),
                    **start,
                ),
                what=f"the start of job {self.job_id}",
            )
        except Conflict:
            # A start whose commit went through while its answer was lost with the connection is ours.
            job = TrainingJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING, **start).first()
            if job is None or not self._still_mine():
                status = self._status()
                if status != JobStatus.RUNNING:  # cancelled while it waited; a running one is another's
                    job_stopped(self.job_id, self.lease_token)
                return status
        keeper = LeaseKeeper(self.job_id, self.lease_token)
        keeper.start()
        try:
            return self._run(job, devices)
        except Exception as exc:  # noqa: BLE001 - a runner bug must still end the job, not hang it
            logger.exception("runner failed for job %s", self.job_id)
            self._finish_failed(worker_failure(exc, self.doing))
            return JobStatus.FAILED
        finally:
            if self.trainer is not None and self.trainer.running():
                self.trainer.stop()  # a cold shutdown (SystemExit) or a runner bug: never leave it behind
            if self.uploader is not None and self.uploader.is_alive():
                self.uploader.close(wait=False)
            keeper.done.set()
            keeper.join(timeout=5)
            logger.info("job %s: runner done", self.job_id)
            # Only what this run held: after a cancel and a quick retry the job may hold others already.
            retrying(
                lambda: job_stopped(self.job_id, self.lease_token), what=f"the devices of job {self.job_id}"
            )

    def _run(self, job: TrainingJob, devices: list[Device]) -> str:
        work_dir = Path(settings.WORK_DIR) / "jobs" / str(job.uid)
        output_dir = work_dir / "output"
        output_dir.mkdir(parents=True, exist_ok=True)
        self.base_model = job.base_model
        self.recorder = EventRecorder(
            self.job_id, note=self._note, hide=lambda value: hide_paths_in(value, job.base_model)
        )
        self.log(f"Running on {', '.join(map(str, devices)) or 'this host'}; attempt {job.attempts}")
        leftover = stop_leftover(work_dir)
        if leftover:
            self.log(
                f"Stopped trainer {leftover} that a lost run of this job had left running.", level="warning"
            )
        if checkpoints.enabled():
            try:
                fetched = checkpoints.fetch_newer(job, output_dir)
            except Exception as exc:  # noqa: BLE001 - storage trouble: resume from what this disk has
                logger.warning("job %s: could not fetch its stored checkpoint", self.job_id, exc_info=True)
                self.log(
                    f"Could not fetch the stored checkpoint ({exc}); using this disk's.", level="warning"
                )
                fetched = None
            if fetched:
                self.log(
                    f"Fetched checkpoint-{fetched} from storage: the run that wrote it was on another host."
                )
        self.doing = f"writing the job's data to {work_dir}"
        spec = self._build_spec(job, devices, work_dir, output_dir)
        spec_path = spec.save(work_dir / "spec.json")
        self.doing = "running the job"
        if self.recorder.catch_up(work_dir / "events.jsonl"):
            self.log(
                "The previous run had finished training before its worker was lost: uploading its output."
            )
            return self._finish_succeeded(job, output_dir)
        if checkpoints.enabled():
            self.uploader = checkpoints.CheckpointUploader(
                checkpoints.storage_prefix(job), warn=lambda message: self.log(message, level="warning")
            )
            self.uploader.start()
            self.recorder.on_checkpoint = self.uploader.submit
            newest = checkpoints.local_step(output_dir)  # a lost run's newest, perhaps not stored yet
            if newest:
                self.uploader.submit(output_dir / f"checkpoint-{newest}", newest)
        gpus = [d for d in devices if d.kind == DeviceKind.GPU]
        self.trainer = TrainerProcess(
            self._command(spec_path, devices),
            self._env(devices),
            cwd=settings.BASE_DIR,
            events_path=work_dir / "events.jsonl",
            torchrun=len(gpus) > 1,
        )
        interrupted = self._supervise()
        returncode, last_lines = self.trainer.finish()
        if self._still_mine() or self._status() in STOPPED_BY_USER:  # not a replaced run's
            for line in [*self.pending, *last_lines]:  # in order: a gap would hide steps from a resume
                self.recorder.handle(line)
        if self.uploader is not None:
            # A run stopped for a shutdown, or one whose trainer failed, is resumed later, maybe on another
            # host: its newest checkpoint is stored before the devices are given back. A finished,
            # cancelled or replaced run's is not waited for.
            resumed_later = interrupted == "shutdown" or self._status() == JobStatus.PAUSED
            self.uploader.close(wait=resumed_later or (not interrupted and returncode != 0))
        if interrupted:
            return self._interrupted(interrupted)
        if returncode == 0 and self.recorder.done:
            return self._finish_succeeded(job, output_dir)
        reason = self.recorder.error_reason or exit_reason(returncode)
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
            model_name=job.base_model.name,
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
        if devices and all(d.kind == DeviceKind.CPU for d in devices):
            # CPU slots of a host share its cores; more threads than cores makes every step wait.
            threads = str(cpu_slot_threads(devices[0].host))
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
        return env

    # --- supervision -----------------------------------------------------------------------------
    def _supervise(self) -> str:
        """Follow the trainer until it exits. Returns why it was stopped early ("" if it was not)."""
        next_check = 0.0
        pending = self.pending
        while True:
            # Checked on a clock, not only when the trainer is quiet (a busy trainer writes constantly),
            # and before each line is recorded: a runner frozen for a while may have been replaced.
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + STATUS_CHECK_SECONDS
                why = self._why_stop()
                if why:
                    self.trainer.stop()
                    return why
            pending.extend(self.trainer.new_lines())
            while pending and time.monotonic() < next_check:
                self.recorder.handle(pending.popleft())
            if pending:
                continue
            if not self.trainer.running():
                return ""
            time.sleep(POLL_SECONDS)

    def _why_stop(self) -> str:
        if STOP_REQUESTED.is_set():
            return "shutdown"
        if not self._still_mine():
            return "cancelled"  # cancelled, or requeued by the reconciler: this run is over
        return ""

    def _interrupted(self, why: str) -> str:
        if why == "shutdown":
            # This process's devices take no new job: the requeued one must go to a worker that stays.
            mine = Device.objects.filter(pk__in=self.device_ids, worker_pid=os.getpid())
            retrying(lambda: mine.update(status=DeviceStatus.OFFLINE), what="this worker's devices")
            push_devices(self.device_ids)
            try:
                job = TrainingJob.objects.get(pk=self.job_id)
                retrying(
                    lambda: transition(
                        job,
                        JobStatus.QUEUED,
                        reason="the worker is shutting down; resuming from the last checkpoint",
                        queued_at=job.queued_at,
                        expect={"status": JobStatus.RUNNING, "rq_job_id": self.lease_token},
                    ),
                    what=f"the requeue of job {self.job_id}",
                )
                self.log("Stopped: the worker is shutting down; the job waits for a device.", level="warning")
            except Conflict:
                pass  # cancelled meanwhile
            return self._status()
        status = self._status()
        if status == JobStatus.CANCELLED:
            self.log("Stopped: the job was cancelled.", level="warning")
        elif status == JobStatus.PAUSED:
            self.log("Paused: the device is free; resuming continues from the newest checkpoint.")
        else:
            self.log("Stopped: this run was replaced by a newer one.", level="warning")
        logger.info("job %s: trainer stopped (%s)", self.job_id, status)
        return status

    # --- helpers ---------------------------------------------------------------------------------
    def _note(self, line: str) -> None:
        if self.trainer is not None:
            self.trainer.note(line)

    def log(self, message: str, level: str = "info") -> None:
        record_event(self.job_id, "log", {"message": message}, level=level)

    def _status(self) -> str:
        return retrying(
            lambda: TrainingJob.objects.filter(pk=self.job_id).values_list("status", flat=True).get(),
            what=f"the status of job {self.job_id}",
        )

    def _still_mine(self) -> bool:
        """Still running, and still this placement's run (not cancelled, not requeued elsewhere)."""
        job = TrainingJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING)
        if self.lease_token:
            job = job.filter(rq_job_id=self.lease_token)
        return retrying(job.exists, what=f"the status of job {self.job_id}")

    def _own_run(self) -> dict | None:
        return {"rq_job_id": self.lease_token} if self.lease_token else None

    def _finish_succeeded(self, job: TrainingJob, output_dir: Path) -> str:
        from training_app.artifacts import job_prefix, upload_directory

        prefix = job_prefix(job)
        name_base_model_in_adapters(output_dir, job.base_model.name)
        write_model_card(output_dir, job)
        self.doing = "storing the job's output"
        files = upload_directory(output_dir, prefix)
        report = retrying(
            lambda: TrainingJob.objects.filter(pk=self.job_id).values_list("report", flat=True).get(),
            what=f"the report of job {self.job_id}",
        )
        if not report and (output_dir / "eval_report.json").exists():
            report = hide_paths_in(json.loads((output_dir / "eval_report.json").read_text()), job.base_model)
        try:
            retrying(
                lambda: transition(
                    self.job_id,
                    JobStatus.SUCCEEDED,
                    reason="finished",
                    expect=self._own_run(),
                    artifacts_prefix=prefix,
                    artifacts={"files": files},
                    report=report or {},
                ),
                what=f"the success of job {self.job_id}",
            )
        except Conflict:
            return self._status()  # cancelled in the last instant: keep the cancel
        if checkpoints.enabled():
            checkpoints.delete_stored(job)  # the output is stored; nothing will resume from them
        return JobStatus.SUCCEEDED

    def _finish_failed(self, reason: str) -> None:
        lines = [
            hide_server_paths(line, self.base_model) for line in (self.trainer.tail if self.trainer else [])
        ]
        reason = hide_server_paths(reason, self.base_model)
        error = reason
        if lines:
            tail = "\n".join(lines)
            self.log(f"Last {len(lines)} lines of trainer output:\n{tail}", level="error")
            error = f"{reason}\n\nLast {len(lines)} lines of trainer output:\n{tail}"
        try:
            retrying(
                lambda: transition(
                    self.job_id, JobStatus.FAILED, reason=reason, error=error, expect=self._own_run()
                ),
                what=f"the failure of job {self.job_id}",
            )
        except Conflict:
            pass  # already cancelled, finished or requeued


def name_base_model_in_adapters(output_dir: Path, name: str) -> None:
    """PEFT records the base model's directory in each adapter_config.json; the stored outputs, which
    users download, name the model instead (merging and serving are always given the base explicitly)."""
    for config_path in output_dir.rglob("adapter_config.json"):
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("base_model_name_or_path"):
            config["base_model_name_or_path"] = name
            config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
