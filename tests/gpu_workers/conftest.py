"""GPU-worker fixtures: fast heartbeats, a channel layer of this run's own, the tiny model and data.

Workers inherit the environment, so the timings set here hold for them too: a beat every second, a
device offline after 8 silent seconds. CPU slots stand in for GPUs.
"""

from __future__ import annotations

import os

import pytest

from tests.training.conftest import make_dataset, sft_rows, tiny_model, tiny_model_dir  # noqa: F401

FAST_TIMINGS = {
    "DEVICE_HEARTBEAT_SECONDS": 1,
    "DEVICE_OFFLINE_AFTER_SECONDS": 8,
    "DEVICE_LEASE_SECONDS": 8,
    "PLACEMENT_GRACE_SECONDS": 2,
    "JOB_MAX_ATTEMPTS": 3,
    # The test machine's two cores are shared with the test process, other workers and other test runs:
    # two torch threads per trainer would spin-wait on each other (steps slow down a hundredfold).
    "CPU_SLOT_THREADS": 1,
}
CHANNEL_PREFIX = f"tuneforge-gpuw-{os.getpid()}"


@pytest.fixture(autouse=True)
def fast_timings(settings, monkeypatch):
    for name, value in FAST_TIMINGS.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, str(value))
    # The embedded Redis under var/test/ is shared by every test run of this tree: device and org ids
    # of different runs collide, so pushes go to channel groups of this run's own.
    settings.CHANNEL_LAYERS = {
        name: {**layer, "CONFIG": {**layer["CONFIG"], "prefix": CHANNEL_PREFIX}}
        for name, layer in settings.CHANNEL_LAYERS.items()
    }
    monkeypatch.setenv("CHANNEL_LAYER_PREFIX", CHANNEL_PREFIX)


@pytest.fixture
def qa_data(org_a):
    return make_dataset(org_a, sft_rows(repeat=1))


@pytest.fixture
def qa_data_b(org_b):
    return make_dataset(org_b, sft_rows(repeat=1))
