"""``python -m training_app.trainer SPEC.json [--events-fd FD | --events PATH]``: run one job.

Exit code 0 on success; 1 after an ``error`` event. Events go to stdout unless told otherwise; stray
prints from libraries are then moved to stderr so that stdout carries only JSON lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from training_app.trainer.disk import disk_full, no_space
from training_app.trainer.env import configure_offline
from training_app.trainer.events import ENV_EVENTS_FD, EventEmitter


def _emitter(target: str | None) -> EventEmitter:
    target = target or os.environ.get(ENV_EVENTS_FD) or None
    if target is not None:
        return EventEmitter.open(target)
    # Keep a private copy of stdout for events and point fd 1 at stderr, so that print() calls and
    # C-level writes from libraries cannot corrupt the JSON-lines stream.
    sys.stdout.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return EventEmitter(os.fdopen(events_fd, "w", encoding="utf-8", buffering=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training_app.trainer", description=__doc__)
    parser.add_argument("spec", help="path to the job spec JSON file")
    parser.add_argument("--events-fd", "--events", dest="events", help="file descriptor number or file path")
    args = parser.parse_args(argv)
    configure_offline()  # before transformers is imported, or the hub client ignores it
    emitter = _emitter(args.events)

    from training_app.trainer.errors import JobError
    from training_app.trainer.spec import JobSpec, format_errors

    try:
        spec = JobSpec.load(args.spec)
    except (OSError, ValueError) as exc:
        emitter.error(f"Cannot read the job spec {args.spec}: {exc}")
        return 1
    # Cheap checks first, before torch is imported: a bad spec fails in a fraction of a second.
    problems = spec.validate() or spec.input_errors()
    if problems:
        emitter.error(format_errors(problems))
        return 1
    try:
        from training_app.trainer.data import DatasetError
        from training_app.trainer.train import run_job

        run_job(spec, emitter)
    except JobError as exc:
        emitter.error(exc.reason, exc.detail)
        return 1
    except MemoryError as exc:
        emitter.error("Out of CPU memory: use a smaller model, LoRA, or a lower max_seq_len", str(exc))
        return 1
    except DatasetError as exc:
        emitter.error(str(exc))
        return 1
    except Exception as exc:  # the supervisor needs a reason for every failure
        if type(exc).__name__ == "OutOfMemoryError":  # CUDA OOM outside the training loop (loading, eval)
            emitter.error(
                "CUDA out of memory: use a smaller model, LoRA/QLoRA, or a lower max_seq_len", str(exc)
            )
        elif disk_full(exc, Path(spec.output_dir)):  # the final weights, tokenizer or reports
            emitter.error(no_space("the job's output", Path(spec.output_dir)), traceback.format_exc())
        else:
            emitter.error(f"Training failed: {type(exc).__name__}: {exc}", traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
