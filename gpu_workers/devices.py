"""Discovering and describing the devices of this host: NVML for GPUs, the OS for CPU slots.

The NVML path (``pynvml`` from ``nvidia-ml-py``, in the ``gpu`` extra) is initialised once per worker
process and read at every heartbeat. It has not been run on a real GPU in this project's CI; it follows
NVML's documented calls and degrades per field (a field a GPU does not support reads as 0).
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import threading
from dataclasses import dataclass

MAX_INDEX = 63
DEVICE_ARG = re.compile(r"^(?:(cpu)(?::(\d{1,2}))?|(?:gpu:)?(\d{1,2}))$")


class DeviceError(Exception):
    """A device cannot be used: a bad name, no NVML, no such GPU. The message says what to do."""


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


def parse_device_arg(value: str) -> tuple[str, int]:
    """``cpu`` / ``cpu:1`` -> CPU slot 0 / 1; ``0`` / ``gpu:0`` -> GPU 0. Raises DeviceError."""
    match = DEVICE_ARG.match(value.strip().lower())
    if not match:
        raise DeviceError(f"{value!r} is not a device: use cpu, cpu:N, a GPU index such as 0, or gpu:N")
    cpu, cpu_index, gpu_index = match.groups()
    kind, index = ("cpu", int(cpu_index or 0)) if cpu else ("gpu", int(gpu_index))
    if index > MAX_INDEX:
        raise DeviceError(f"{value!r}: device numbers go from 0 to {MAX_INDEX}")
    return kind, index


def parse_device_list(names: list[str]) -> list[tuple[str, int]]:
    """Every device named once, in the order given."""
    parsed: list[tuple[str, int]] = []
    for name in names:
        device = parse_device_arg(name)
        if device in parsed:
            raise DeviceError(f"{name!r} is named twice")
        parsed.append(device)
    return parsed


class _Nvml:
    """One NVML session per process (nvmlInit is costly; heartbeats read every few seconds)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._module = None

    def get(self):
        with self._lock:
            if self._module is None:
                try:
                    import pynvml
                except ImportError as exc:
                    raise DeviceError(
                        "GPUs are read through NVML: install the gpu extra (pip install '.[gpu]')"
                    ) from exc
                try:
                    pynvml.nvmlInit()
                except pynvml.NVMLError as exc:
                    raise DeviceError(f"NVML could not start ({exc}): is the NVIDIA driver loaded?") from exc
                self._module = pynvml
            return self._module


_nvml = _Nvml()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _used_memory(nvml, handle) -> tuple[int, int]:
    """(total, used) bytes. NVML's v2 call leaves out memory the driver reserves, which v1 counts as used."""
    if hasattr(nvml, "nvmlMemory_v2"):
        try:
            info = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
            return info.total, info.used
        except (nvml.NVMLError, TypeError):
            pass  # an older driver: fall back to v1
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    return info.total, info.used


def read_gpu(index: int) -> DeviceReading:
    """Read one GPU through NVML: its really used memory and its utilisation."""
    nvml = _nvml.get()
    try:
        count = nvml.nvmlDeviceGetCount()
        if index >= count:
            raise DeviceError(f"GPU {index} does not exist: this host has {count} GPU(s), 0 to {count - 1}")
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        total, used = _used_memory(nvml, handle)
        name = _text(nvml.nvmlDeviceGetName(handle))
        uuid = _text(nvml.nvmlDeviceGetUUID(handle))
    except nvml.NVMLError as exc:
        raise DeviceError(f"Cannot read GPU {index} through NVML: {exc}") from exc
    try:
        utilization = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except nvml.NVMLError:
        utilization = 0  # not supported (MIG instances, some virtual GPUs)
    try:
        major, _minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
    except nvml.NVMLError:
        major = 0
    return DeviceReading(
        kind="gpu",
        index=index,
        uuid=uuid,
        name=name,
        memory_total_mb=total // 2**20,
        memory_used_mb=used // 2**20,
        utilization=max(0, min(100, utilization)),
        capabilities={"bf16": major >= 8, "bitsandbytes": _has_bitsandbytes()},
    )


def _has_bitsandbytes() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def read_cpu_slot(index: int) -> DeviceReading:
    """A CPU slot: the host's memory and CPU load (slots of one host share both)."""
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
