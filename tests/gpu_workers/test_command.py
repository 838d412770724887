"""``manage.py gpuworker`` refuses what it cannot serve, saying what to do instead."""

from __future__ import annotations

import importlib.util

import pytest
from django.core.management import CommandError, call_command

from gpu_workers.devices import parse_device_arg, parse_device_list
from gpu_workers.models import Device

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cpu", ("cpu", 0)),
        ("cpu:1", ("cpu", 1)),
        ("0", ("gpu", 0)),
        ("gpu:3", ("gpu", 3)),
        (" CPU:2 ", ("cpu", 2)),
    ],
)
def test_device_names(value, expected):
    assert parse_device_arg(value) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "banana"], "'banana' is not a device: use cpu, cpu:N, a GPU index"),
        (["--device", "-1"], "'-1' is not a device"),
        (["--device", "cpu:99"], "device numbers go from 0 to 63"),
        (["--device", "0", "--devices", "0,1"], "'0' is named twice"),
        (["--device", "0; rm -rf /"], "is not a device"),
    ],
)
def test_bad_device_lists_are_refused_before_anything_starts(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("gpuworker", *args)
    assert not Device.objects.exists()


def nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library, no driver, no GPU
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.skipif(nvml_works(), reason="this machine has an NVIDIA GPU")
def test_a_gpu_on_a_machine_without_nvml_is_refused_with_what_to_do():
    expected = (
        r"NVML could not start \(.*\): is the NVIDIA driver loaded\?"
        if importlib.util.find_spec("pynvml")
        else r"install the gpu extra \(pip install '\.\[gpu\]'\)"
    )
    with pytest.raises(CommandError, match=expected):
        call_command("gpuworker", "--device", "0")
    assert not Device.objects.exists()


def test_unsafe_timings_are_refused(settings):
    settings.DEVICE_OFFLINE_AFTER_SECONDS = 2  # the heartbeat (1 s here) would look dead at once
    with pytest.raises(CommandError, match="must be at least three heartbeats"):
        call_command("gpuworker", "--device", "cpu")
    assert parse_device_list(["cpu", "cpu:1"]) == [("cpu", 0), ("cpu", 1)]
