"""Checkpoints copied to storage (newest only, manifest last) and fetched back on a host that lacks them."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage

from gpu_workers import checkpoints
from tests.datasets.dataset_support import isolated_media  # noqa: F401 - storage in tmp_path


def fake_checkpoint(root: Path, step: int, *, complete: bool = True) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(f"weights {step}".encode())
    (path / "optimizer.pt").write_bytes(b"optimizer")
    if complete:  # the Trainer writes its state file last
        (path / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    return path


def test_only_the_newest_whole_checkpoint_is_kept_and_fetched_back(tmp_path):
    job = SimpleNamespace(organization_id=1, uid=uuid.uuid4())
    prefix = checkpoints.storage_prefix(job)
    uploader = checkpoints.CheckpointUploader(prefix)
    worker_disk = tmp_path / "worker-a"
    uploader.store(2, fake_checkpoint(worker_disk, 2))
    uploader.store(4, fake_checkpoint(worker_disk, 4))
    uploader.store(6, fake_checkpoint(worker_disk, 6, complete=False))  # killed while saving: skipped
    manifest = checkpoints.stored_manifest(prefix)
    assert manifest["step"] == 4
    assert default_storage.listdir(prefix)[0] == ["checkpoint-4"], "the older one is removed"

    other_host = tmp_path / "worker-b" / "output"
    other_host.mkdir(parents=True)
    assert checkpoints.fetch_newer(job, other_host) == 4
    assert (other_host / "checkpoint-4" / "adapter_model.safetensors").read_bytes() == b"weights 4"
    assert [p.name for p in other_host.iterdir()] == ["checkpoint-4"], "no partial directory is left"
    assert checkpoints.fetch_newer(job, other_host) is None, "this disk is as new as storage now"

    checkpoints.delete_stored(job)
    assert checkpoints.stored_manifest(prefix) is None


def test_newer_checkpoints_replace_ones_still_waiting_and_close_waits_for_the_last(tmp_path):
    job = SimpleNamespace(organization_id=1, uid=uuid.uuid4())
    uploader = checkpoints.CheckpointUploader(checkpoints.storage_prefix(job))
    for step in (10, 20, 30):  # the thread is not started: they queue up
        uploader.submit(fake_checkpoint(tmp_path, step), step)
    assert uploader.pending[0] == 30
    uploader.start()
    uploader.close(wait=True, timeout=30)
    assert not uploader.is_alive()
    assert checkpoints.stored_manifest(checkpoints.storage_prefix(job))["step"] == 30
    uploader.submit(fake_checkpoint(tmp_path, 40), 40)  # closed: ignored
    assert uploader.pending is None


def test_a_manifest_pointing_outside_the_checkpoint_is_refused(tmp_path):
    from django.core.files.base import ContentFile

    job = SimpleNamespace(organization_id=1, uid=uuid.uuid4())
    prefix = checkpoints.storage_prefix(job)
    default_storage.save(f"{prefix}/x", ContentFile(b"x"))
    manifest = b'{"step": 5, "files": [{"path": "../../escape", "name": "' + f"{prefix}/x".encode() + b'"}]}'
    default_storage.save(f"{prefix}/{checkpoints.MANIFEST}", ContentFile(manifest))
    output = tmp_path / "output"
    output.mkdir()
    with pytest.raises(ValueError, match="unsafe artifact path"):
        checkpoints.fetch_newer(job, output)
    assert list(output.iterdir()) == [] and not (tmp_path / "escape").exists()
