"""Serving fixtures: LoRA adapters trained by the real trainer, a real ASGI server, a real supervisor.

Adapters are trained once (``python -m training_app.trainer spec.json``) and kept under the test var dir,
so a second run starts in seconds. Adapter "a" answers the QA set plainly ("Paris."); adapter "b" was taught
to prefix its answers ("Answer: Paris."), so a test can tell which adapter answered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.asgi import test_server
from tests.training.conftest import QA, tiny_model, tiny_model_dir  # noqa: F401 - shared fixtures
from tests.workers import worker_env
from training_app.artifacts import job_prefix, upload_directory
from training_app.models import JobStatus, TrainingJob

ADAPTER_STEPS = 60
ANSWER_PREFIX = {"a": "", "b": "Answer: "}


def train_adapter(base_dir: Path, label: str, *, method: str = "lora") -> Path:
    """A fine-tune of the tiny model on the QA set, trained by the trainer process (cached)."""
    out = Path(settings.VAR_DIR) / "fixtures" / f"serving-{method}-{label}"
    done = out / "trainer_report.json"
    if done.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "messages": [
                {"role": "user", "content": q},
                {"role": "assistant", "content": ANSWER_PREFIX[label] + a},
            ]
        }
        for _ in range(8)
        for q, a in QA
    ]
    data = out.parent / f"serving-{method}-{label}.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    spec = {
        "model_path": str(base_dir),
        "output_dir": str(out),
        "train_files": [str(data)],
        "method": method,
        "hyperparameters": {
            "max_steps": ADAPTER_STEPS,
            "learning_rate": 5e-3 if method == "lora" else 2e-3,
            "logging_steps": 20,
            "save_steps": 30,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "max_seq_len": 64,
            "lr_scheduler_type": "constant",
            "do_eval_generation": False,
            "eval_base_model": False,
            "lora_rank": 8,
        },
    }
    spec_path = out.parent / f"serving-{method}-{label}.spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "training_app.trainer", str(spec_path)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert done.is_file()
    return out


@pytest.fixture(scope="session")
def adapters(tiny_model_dir) -> dict[str, Path]:  # noqa: F811 - the shared fixture, used
    return {label: train_adapter(tiny_model_dir, label) for label in ("a", "b")}


def succeeded_job(org, base_model, output_dir: Path, name: str, method: str = "lora") -> TrainingJob:
    """A finished job whose output sits in storage, as a worker leaves it (see gpu_workers.runner)."""
    job = TrainingJob.objects.create(
        organization=org,
        name=name,
        base_model=base_model,
        method=method,
        hyperparameters={"lora_rank": 8, "use_dora": False},
        status=JobStatus.SUCCEEDED,
    )
    prefix = job_prefix(job)
    files = upload_directory(output_dir, prefix)
    TrainingJob.objects.filter(pk=job.pk).update(artifacts_prefix=prefix, artifacts={"files": files})
    job.refresh_from_db()
    return job


def _stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def gateway(django_db_setup, django_db_blocker):
    """daphne serving the platform as in production (DEBUG off, static files collected), on the test
    database."""
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=worker_env(), check=True, timeout=120)
    with test_server("daphne-serving.log", DEBUG="false") as server:
        yield server


def supervisor_env(**overrides) -> dict[str, str]:
    env = worker_env()
    env.update(
        {
            "SERVING_MAX_MODEL_LEN": "256",  # RECIPES: the tiny model on this CPU
            "SERVING_CPU_KVCACHE_GB": "1",
            "SERVING_GPU_MEMORY_UTILIZATION": "0.3",
            "SERVING_MAX_LORA_RANK": "8",
            "SERVING_IDLE_SECONDS": "1",
            "SERVING_START_TIMEOUT": "400",
        }
    )
    env.update(overrides)
    return env


@pytest.fixture
def supervisor_overrides() -> dict[str, str]:
    """Settings of the supervisor a test starts; a test parametrizes this name to change them."""
    return {}


@pytest.fixture
def supervisor(transactional_db, supervisor_overrides):
    """``manage.py serve_models`` on the test database; stopping it stops every engine it started."""
    from serving_app.engine.process import kill_group
    from serving_app.models import Engine

    log = open(settings.VAR_DIR / "serve-models.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve_models", "--tick", "0.5"],
        env=supervisor_env(**supervisor_overrides),
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield proc
    _stop(proc)
    log.close()
    # Belt and braces: no engine may outlive the test, even if the supervisor was killed.
    for pid in Engine.objects.exclude(pid=None).values_list("pid", flat=True):
        kill_group(pid, timeout=5)
