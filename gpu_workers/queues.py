"""RQ queue names: one queue per device, so a job lands on the worker bound to the device it leased."""

from __future__ import annotations

import socket

import django_rq


def host_name() -> str:
    return socket.gethostname()


def device_queue_name(device: str, host: str | None = None) -> str:
    return f"device.{host or host_name()}.{device}"


def get_queue(name: str):
    return django_rq.get_queue(name, connection=django_rq.get_connection("default"))
