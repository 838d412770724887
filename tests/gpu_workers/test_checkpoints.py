"""Checkpoints copied to storage (newest only, manifest last) and fetched back on a host that lacks them."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage

from gpu_workers import checkpoints
from tests.datasets.dataset_support import isolated_media  # noqa: F401 - storage in tmp_path
from tests.disks import fill, small_disk
from tests.workers import wait_for

PAGE = 4096  # tmpfs gives files whole pages


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


def test_storage_filling_up_keeps_the_checkpoint_stored_before_and_says_so(settings, tmp_path):
    with small_disk("1m") as disk:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(disk)},
            },
        }
        job = SimpleNamespace(organization_id=1, uid=uuid.uuid4())
        prefix = checkpoints.storage_prefix(job)
        warnings: list[str] = []
        uploader = checkpoints.CheckpointUploader(prefix, warn=warnings.append)
        uploader.store(2, fake_checkpoint(tmp_path, 2))

        # A checkpoint larger than the room left: its partial copy goes, the one stored before stays.
        fill(disk, leave=48 * PAGE)
        too_big = fake_checkpoint(tmp_path, 4)
        (too_big / "optimizer.pt").write_bytes(b"o" * 64 * PAGE)
        # 48 one-page files that fit, and a manifest listing them that does not (two pages, where the one it
        # replaces had one).
        no_room_for_manifest = fake_checkpoint(tmp_path, 6)
        for index in range(45):
            (no_room_for_manifest / f"extra-{index}").write_bytes(b"x")
        uploader.start()
        for step, path in ((4, too_big), (6, no_room_for_manifest)):
            uploader.submit(path, step)
            wait_for(
                lambda n=len(warnings): len(warnings) > n, timeout=30, message=f"checkpoint {step} to fail"
            )
        uploader.close(wait=True, timeout=30)

        assert warnings == [
            f"Could not copy checkpoint {step} to storage (no space left in storage); it is kept on this worker's "
            "disk only, so a resume on another host would start from an older one."
            for step in (4, 6)
        ]
        assert checkpoints.stored_manifest(prefix)["step"] == 2
        assert default_storage.listdir(prefix)[0] == ["checkpoint-2"], "no partial copy is left"
        fetched = tmp_path / "fetched"
        fetched.mkdir()
        assert checkpoints.fetch_newer(job, fetched) == 2
