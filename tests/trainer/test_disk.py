"""A full disk is told apart from other failures, whichever library was writing (a real ENOSPC on a tmpfs)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from tokenizers.models import BPE

from tests.disks import fill, small_disk
from training_app.trainer.disk import disk_full, no_space, says_disk_full


def test_a_full_disk_is_recognised_whichever_library_was_writing(tmp_path):
    with small_disk("64k") as disk:
        fill(disk, 0)
        with pytest.raises(OSError) as python:
            (disk / "events.jsonl").write_bytes(b"x" * 8192)
        with pytest.raises(Exception) as tokenizers:  # noqa: PT011 - it raises a bare Exception
            Tokenizer(BPE()).save(str(disk / "tokenizer.json"))
        with pytest.raises(Exception) as safetensors:  # noqa: PT011 - its own SafetensorError
            save_file({"w": torch.zeros(4096)}, str(disk / "adapter_model.safetensors"))
        with pytest.raises(RuntimeError) as zip_writer:
            torch.save({"w": torch.zeros(4096)}, disk / "optimizer.pt")
        assert says_disk_full(python.value) and says_disk_full(tokenizers.value)
        assert says_disk_full(safetensors.value)
        assert not says_disk_full(zip_writer.value), zip_writer.value  # torch only says "unexpected pos"
        assert disk_full(zip_writer.value, disk / "optimizer.pt"), "but the disk it wrote to has no room"
        reason = no_space("checkpoint at step 3", disk / "checkpoint-3")
    assert reason == (
        f"No space left on device while writing checkpoint at step 3 to {disk}/checkpoint-3 (0.0 MB free on "
        "that disk). Free space on the worker's disk and retry the job."
    )
    assert not disk_full(RuntimeError("a bug"), tmp_path), "a disk with room is not full"
