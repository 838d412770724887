"""Discovering and describing the devices of this host: NVML for GPUs, the OS for CPU slots."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass
class DeviceReading:
    kind: str
    index: int
    uuid: str
    name: str
    memory_total_mb: int
    memory_used_mb: int
    utilization: int
    capabilities: dict


def host_name() -> str:
    return os.environ.get("TUNEFORGE_HOST") or socket.gethostname()


def read_gpu(index: int) -> DeviceReading:
    """Read one GPU through NVML (nvidia-ml-py): really used memory and utilisation."""
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        uuid = pynvml.nvmlDeviceGetUUID(handle)
        major, _minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    finally:
        pynvml.nvmlShutdown()
    return DeviceReading(
        kind="gpu",
        index=index,
        uuid=uuid if isinstance(uuid, str) else uuid.decode(),
        name=name if isinstance(name, str) else name.decode(),
        memory_total_mb=memory.total // 2**20,
        memory_used_mb=memory.used // 2**20,
        utilization=int(utilization.gpu),
        capabilities={"bf16": major >= 8, "bitsandbytes": _has_bitsandbytes()},
    )


def _has_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def read_cpu_slot(index: int) -> DeviceReading:
    import psutil

    memory = psutil.virtual_memory()
    return DeviceReading(
        kind="cpu",
        index=index,
        uuid=f"cpu-{host_name()}-{index}",
        name=f"CPU slot {index} ({os.cpu_count()} cores)",
        memory_total_mb=memory.total // 2**20,
        memory_used_mb=(memory.total - memory.available) // 2**20,
        utilization=int(psutil.cpu_percent(interval=None)),
        capabilities={"bf16": False, "bitsandbytes": False},
    )


def read_device(kind: str, index: int) -> DeviceReading:
    return read_gpu(index) if kind == "gpu" else read_cpu_slot(index)


def parse_device_arg(value: str) -> tuple[str, int]:
    """``cpu`` / ``cpu:1`` -> CPU slot 0 / 1; ``0`` / ``gpu:0`` -> GPU 0."""
    value = value.strip().lower()
    if value.startswith("cpu"):
        rest = value[3:].lstrip(":") or "0"
        return "cpu", int(rest)
    return "gpu", int(value.removeprefix("gpu").lstrip(":"))
