"""Devices the workers run jobs on. A device is leased to one job at a time by a conditional UPDATE."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

from gpu_workers import conf


class DeviceKind(models.TextChoices):
    CPU = "cpu", "CPU slot"
    GPU = "gpu", "GPU"


class DeviceStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    DRAINING = "draining", "Draining"


class Device(models.Model):
    host = models.CharField(max_length=200)
    kind = models.CharField(max_length=3, choices=DeviceKind.choices)
    index = models.PositiveSmallIntegerField(help_text="GPU index, or the number of a CPU slot.")
    uuid = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=200, blank=True)
    memory_total_mb = models.PositiveIntegerField(default=0)
    memory_used_mb = models.PositiveIntegerField(default=0)
    utilization = models.PositiveSmallIntegerField(default=0, help_text="Percent.")
    status = models.CharField(max_length=10, choices=DeviceStatus.choices, default=DeviceStatus.ONLINE)
    drain = models.BooleanField(default=False, help_text="Finish the current job, take no more.")
    capabilities = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    worker_token = models.CharField(
        max_length=32,
        blank=True,
        help_text="The worker process serving the device (a restarted one gets a new one).",
    )
    leased_job = models.ForeignKey(
        "training.TrainingJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leased_devices",
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(
        max_length=64, blank=True, help_text="The placement holding the lease (a retried job gets a new one)."
    )
    serving_holds = models.PositiveSmallIntegerField(
        default=0,
        help_text="Serving engines running on this GPU (manage.py serve_models): no job is placed on it meanwhile.",
    )

    class Meta:
        ordering = ["host", "kind", "index"]
        constraints = [models.UniqueConstraint(fields=["host", "kind", "index"], name="unique_device")]

    def __str__(self) -> str:
        return f"{self.host}:{self.kind}{self.index}"

    @property
    def queue_name(self) -> str:
        from gpu_workers.queues import device_queue_name

        return device_queue_name(self.slot, self.host)

    @property
    def slot(self) -> str:
        """The device's name in queue names: ``cpu0``, ``cpu1`` ... or ``gpu0``, ``gpu1`` ..."""
        return f"{self.kind}{self.index}"

    @property
    def is_alive(self) -> bool:
        return bool(self.heartbeat_at) and timezone.now() - self.heartbeat_at < timedelta(
            seconds=conf.offline_after_seconds()
        )

    @property
    def is_busy(self) -> bool:
        return self.leased_job_id is not None or self.serving_holds > 0
