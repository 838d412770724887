"""One worker process serving one device: registration, heartbeats, and the RQ worker that runs jobs.

A device is served by one worker at a time. Each worker process has a token of its own; heartbeats only
update a device this process still holds, so a worker whose device was taken over notices and stops.
A new worker takes a device over when the previous one is dead (its process is gone from this host, or
its heartbeat is stale) and at once requeues the jobs that process was running.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import uuid

import psutil
from django.db import close_old_connections, connection
from django.db.models import Case, Value, When
from django.utils import timezone
from rq import SimpleWorker

from gpu_workers import conf
from gpu_workers.devices import DeviceError, DeviceReading, host_name, read_device
from gpu_workers.live import push_devices
from gpu_workers.models import Device, DeviceStatus
from gpu_workers.reconcile import reconcile_if_due, take_over
from gpu_workers.runner import STOP_REQUESTED
from llm_platform.db import retrying

logger = logging.getLogger(__name__)

WORKER_TOKEN = uuid.uuid4().hex


class DeviceTakenOver(Exception):
    """Another worker now serves this device."""


def _process_alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _status_from_drain():
    return Case(When(drain=True, then=Value(DeviceStatus.DRAINING)), default=Value(DeviceStatus.ONLINE))


def _reading_fields(reading: DeviceReading) -> dict:
    return {
        "memory_used_mb": reading.memory_used_mb,
        "memory_total_mb": reading.memory_total_mb,
        "utilization": reading.utilization,
    }


def register(kind: str, index: int) -> tuple[Device, list[int]]:
    """Claim the device for this process. Returns it and the jobs requeued from a dead predecessor.

    Raises DeviceError when the device cannot be read or a live worker on this host still serves it.
    """
    reading = read_device(kind, index)
    device, _ = Device.objects.get_or_create(host=host_name(), kind=kind, index=index)
    if device.worker_token and device.is_alive and _process_alive(device.worker_pid):
        raise DeviceError(
            f"{device} is served by a running worker (pid {device.worker_pid}); stop it first, or give this "
            "worker another device"
        )
    previous = device.worker_token
    Device.objects.filter(pk=device.pk).update(
        uuid=reading.uuid,
        name=reading.name,
        capabilities=reading.capabilities,
        heartbeat_at=timezone.now(),
        worker_pid=os.getpid(),
        worker_token=WORKER_TOKEN,
        status=_status_from_drain(),
        **_reading_fields(reading),
    )
    device.refresh_from_db()
    recovered = take_over(device) if previous else []
    push_devices([device.pk])
    return device, recovered


def _beat(device: Device, reading: DeviceReading) -> int:
    return Device.objects.filter(pk=device.pk, worker_token=WORKER_TOKEN).update(
        heartbeat_at=timezone.now(), status=_status_from_drain(), **_reading_fields(reading)
    )


def heartbeat(devices: list[Device]) -> None:
    """Fresh readings, and proof of life, for the devices this process holds."""
    for device in devices:
        reading = read_device(device.kind, device.index)
        held = retrying(functools.partial(_beat, device, reading), what=f"the heartbeat of {device}")
        if not held:
            raise DeviceTakenOver(f"{device} is now served by another worker")
    push_devices([d.pk for d in devices])


def sign_off(devices: list[Device]) -> None:
    """A clean exit: the devices go offline at once instead of after the heartbeat timeout."""
    ids = [d.pk for d in devices]
    Device.objects.filter(pk__in=ids, worker_token=WORKER_TOKEN).update(
        status=DeviceStatus.OFFLINE, heartbeat_at=None, worker_pid=None, worker_token=""
    )
    push_devices(ids)


class DeviceWorker(SimpleWorker):
    """RQ's in-process worker, with two changes for jobs that last hours.

    Its execution heartbeat is kept by the heartbeat thread (RQ's SimpleWorker has none while a job
    runs), with a TTL of the offline timeout, so RQ's abandoned-job cleanup means "the worker died".
    A warm shutdown (SIGTERM) stops the running trainer and requeues its job to resume from the last
    checkpoint instead of waiting hours for it to finish.
    """

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        if job.timeout == -1:
            return int(conf.offline_after_seconds())
        return super().get_heartbeat_ttl(job, working_time)

    def beat_current_job(self) -> None:
        execution = self.execution
        if execution is None:
            return
        job = self.get_current_job()
        if job is not None:
            self.maintain_heartbeats(job, execution)

    def handle_warm_shutdown_request(self):
        super().handle_warm_shutdown_request()
        STOP_REQUESTED.set()


class Every(threading.Thread):
    """Calls ``action`` every ``seconds()`` until stopped; a failure is logged and retried."""

    def __init__(self, name: str, seconds, action):
        super().__init__(name=name, daemon=True)
        self.seconds = seconds
        self.action = action
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.wait(self.seconds()):
                try:
                    close_old_connections()
                    self.action()
                except DeviceTakenOver:
                    raise
                except DeviceError:
                    logger.exception("cannot read the device; the next beat tries again")
                except Exception:  # noqa: BLE001 - the database or Redis may be briefly away
                    logger.exception("%s failed; trying again at the next beat", self.name)
        except DeviceTakenOver as exc:
            logger.error("%s; this worker stops", exc)
            STOP_REQUESTED.set()
            os.kill(os.getpid(), signal.SIGTERM)  # the RQ worker's own shutdown path
        finally:
            connection.close()


def start_beating(devices: list[Device], worker: DeviceWorker) -> list[Every]:
    """Two threads: heartbeats (devices and the running RQ job) and the reconciler, apart, so a slow
    reconciliation never delays a heartbeat."""

    def beat() -> None:
        if STOP_REQUESTED.is_set():
            return  # shutting down: the devices stay offline, as the runner left them
        heartbeat(devices)
        worker.beat_current_job()

    threads = [
        Every("heartbeat", conf.heartbeat_seconds, beat),
        Every("reconciler", conf.reconcile_seconds, reconcile_if_due),
    ]
    for thread in threads:
        thread.start()
    return threads
