"""A long upload must not stall the platform: API latency with keys, and a training job's events, during
a ~60-second ingest, on the default set-up.

    .venv/bin/python benchmarks/ingest_contention.py [--ingest-seconds 60] [--probe-every 0.2]

Runs ``manage.py up`` (daphne, a CPU gpuworker, the tasks worker, the serving supervisor) on a scratch
SQLite database and an embedded Redis under var/bench/contention, after ``bootstrap_demo``. Then:

1. calibrates: a short training job gives the steps per second of the tiny model here, and one file of
   INLINE_INGEST_MAX_MB (less a little) through Bisheng's upload gives the seconds one file takes;
2. starts a training job sized to outlast the ingest (one metric event a step), waits for its first step;
3. uploads N such files in one request to Bisheng's ``POST /api/v1/finetune/job/file`` (each ingested
   within the request, one after another: the case that used to hold SQLite's write lock throughout),
   N chosen to last about --ingest-seconds;
4. meanwhile calls the API with keys, alternating ``GET /api/jobs/<id>/`` (DRF) and ``GET /v1/models``
   (the lean gateway), each call with a key not used before, so every call also writes its key's
   ``last_used_at``;
5. waits for the job: it must finish ``succeeded`` at its last step with every event recorded (``seq``
   1..N without a gap, every step's metric once).

The last line is one JSON object: latency p50/p95/max (ms) of the calls made while the ingest ran, the
errors among them, the ingest's seconds, the job's outcome, and ``meets_target`` (every call under 1 s
and answered 200, the job complete).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "var" / "bench" / "contention"
STATE = BENCH / "state"
sys.path.insert(0, str(ROOT))
TARGET_MAX_MS = 1000
FILE_UPLOAD = "/api/v1/finetune/job/file"
HYPERPARAMETERS = {
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 32,
    "learning_rate": 1e-3,
    "do_eval_generation": False,
    "eval_base_model": False,
}
WORDS = [
    "the",
    "model",
    "learns",
    "from",
    "every",
    "row",
    "while",
    "a",
    "worker",
    "trains",
    "on",
    "its",
    "slot",
]


def configure() -> None:
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "llm_platform.settings",
            "TUNEFORGE_VAR_DIR": str(STATE),
            "SECRET_KEY": secrets.token_hex(32),
            "DEBUG": "true",  # as `make up` runs it
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL", "TUNEFORGE_HOST"):
        os.environ.pop(name, None)
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def make_file(path: Path, size: int, seed: int) -> None:
    """Alpaca rows of varied text (no two alike, so deduplication keeps them all), ``size`` bytes."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        row = 0
        while out.tell() < size:
            words = " ".join(rng.choices(WORDS, k=40))
            out.write(
                json.dumps({"instruction": f"Row {row}: {words}?", "input": "", "output": words}) + "\n"
            )
            row += 1


class Platform:
    """``manage.py up`` on a free port, stopped (with its children) by SIGTERM."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(BENCH / "up.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "up", "--port", str(self.port)],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.healthy, 120, "the platform to answer /healthz")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit(f"manage.py up exited with {self.proc.returncode}; see {BENCH / 'up.log'}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def request(port: int, method: str, path: str, key: str, body=None, headers=None, timeout=600):
    """(status, seconds, parsed body) of one HTTP call with an API key."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request(
            method, path, body=body, headers={"Authorization": f"Bearer {key}", **(headers or {})}
        )
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = data[:500].decode("utf-8", "replace")
    return response.status, seconds, parsed


def multipart(paths: list[Path]) -> tuple[object, int, str]:
    """A streamed multipart body of ``files`` parts: (chunks, length, content type)."""
    boundary = secrets.token_hex(16)
    heads = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="part-{i}.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for i in range(len(paths))
    ]
    tail = f"--{boundary}--\r\n".encode()
    length = sum(len(h) + p.stat().st_size + 2 for h, p in zip(heads, paths, strict=True)) + len(tail)

    def chunks():
        for head, path in zip(heads, paths, strict=True):
            yield head
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk
            yield b"\r\n"
        yield tail

    return chunks(), length, f"multipart/form-data; boundary={boundary}"


def upload(port: int, key: str, paths: list[Path]) -> tuple[int, float, object]:
    body, length, content_type = multipart(paths)
    headers = {"Content-Type": content_type, "Content-Length": str(length)}
    return request(port, "POST", FILE_UPLOAD, key, body=body, headers=headers, timeout=3600)


def create_job(port: int, key: str, name: str, base_model: int, dataset: int, steps: int) -> int:
    hp = {**HYPERPARAMETERS, "max_steps": steps, "save_steps": steps}
    body = json.dumps(
        {
            "name": name,
            "base_model": str(base_model),
            "datasets": [{"dataset": str(dataset)}],
            "hyperparameters": hp,
        }
    )
    status, _, answer = request(
        port, "POST", "/api/jobs/", key, body=body, headers={"Content-Type": "application/json"}
    )
    if status != 201:
        raise SystemExit(f"creating job {name} answered {status}: {answer}")
    return answer["id"]


def finished(job_id: int, timeout: float):
    from training_app.models import TrainingJob

    terminal = ("succeeded", "failed", "cancelled")
    return wait_for(
        lambda: TrainingJob.objects.filter(pk=job_id, status__in=terminal).first(), timeout, f"job {job_id}"
    )


def steps_per_second(job_id: int) -> float:
    from training_app.models import JobEvent

    metrics = list(JobEvent.objects.filter(job_id=job_id, type="metric").order_by("seq"))
    if len(metrics) < 2:
        raise SystemExit(f"calibration job {job_id} recorded {len(metrics)} metric events")
    span = (metrics[-1].created_at - metrics[0].created_at).total_seconds()
    return (len(metrics) - 1) / max(span, 1e-3)


def completeness(job_id: int) -> dict:
    from training_app.models import JobEvent, TrainingJob

    job = TrainingJob.objects.get(pk=job_id)
    seqs = list(JobEvent.objects.filter(job_id=job_id).order_by("seq").values_list("seq", flat=True))
    steps = [
        e.payload.get("step")
        for e in JobEvent.objects.filter(job_id=job_id, type="metric").order_by("seq")
        if e.payload.get("loss") is not None
    ]
    max_steps = job.hyperparameters["max_steps"]
    return {
        "job_status": job.status,
        "job_step": job.current_step,
        "job_max_steps": max_steps,
        "job_events": len(seqs),
        "job_seq_gap_free": seqs == list(range(1, len(seqs) + 1)) and job.last_seq == len(seqs),
        "job_every_step_once": steps == list(range(1, max_steps + 1)),
        "job_attempts": job.attempts,
    }


class Prober(threading.Thread):
    """API calls with keys, one every ``every`` seconds, each key used once (so each writes last_used_at)."""

    def __init__(self, port: int, keys: list[str], job_id: int, every: float):
        super().__init__(daemon=True)
        self.port, self.keys, self.job_id, self.every = port, keys, job_id, every
        self.samples: list[tuple[float, int, float, str]] = []  # (started, status, seconds, path)
        self.done = threading.Event()

    def run(self) -> None:
        paths = [f"/api/jobs/{self.job_id}/", "/v1/models"]
        for index, key in enumerate(self.keys):
            if self.done.is_set():
                return
            path = paths[index % 2]
            started = time.monotonic()
            try:
                status, seconds, _ = request(self.port, "GET", path, key, timeout=60)
            except OSError:
                status, seconds = 0, time.monotonic() - started
            self.samples.append((started, status, seconds, path))
            self.done.wait(max(0.0, self.every - (time.monotonic() - started)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-seconds", type=float, default=60)
    parser.add_argument("--probe-every", type=float, default=0.2)
    args = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)
    configure()

    from django.conf import settings
    from django.core.management import call_command

    from datasets_app.models import Dataset
    from llm_platform.models import ApiKey, Organization
    from training_app.models import BaseModel, JobEvent, TrainingJob

    call_command("migrate", verbosity=0)
    call_command("bootstrap_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    org = Organization.objects.get(slug="demo")
    base = BaseModel.objects.get()
    sample = Dataset.objects.filter(organization=org, status="ready").first()
    probes = int(args.ingest_seconds * 4 / args.probe_every) + 100
    keys = [ApiKey.issue(org, name=f"probe-{i}")[1] for i in range(probes)]
    _, admin_key = ApiKey.issue(org, name="bench")
    file_size = (settings.INLINE_INGEST_MAX_MB - 1) * 1024 * 1024
    one = BENCH / "part.jsonl"
    if not one.exists() or one.stat().st_size < file_size:
        make_file(one, file_size, seed=1)

    platform = Platform()
    try:
        port = platform.port
        calibration = create_job(port, admin_key, "calibration", base.pk, sample.pk, 60)
        job = finished(calibration, 300)
        if job.status != "succeeded":
            raise SystemExit(f"the calibration job {job.status}: {job.error}")
        rate = steps_per_second(calibration)
        status, one_file_s, answer = upload(port, admin_key, [one])
        if status != 200:
            raise SystemExit(f"the calibration upload answered {status}: {answer}")
        files = max(2, round(args.ingest_seconds / one_file_s))
        # The job must outlast the ingest; training slows down while the web process ingests.
        steps = max(200, int(rate * (args.ingest_seconds * 1.5 + 20)))
        job_id = create_job(port, admin_key, "during-ingest", base.pk, sample.pk, steps)
        wait_for(lambda: JobEvent.objects.filter(job_id=job_id, type="metric").exists(), 120, "training")

        prober = Prober(port, keys, job_id, args.probe_every)
        prober.start()
        time.sleep(2 * args.probe_every)  # a few calls before the upload: the same calls, unloaded
        latest = Dataset.objects.order_by("-pk").values_list("pk", flat=True).first()
        answers: list = []
        uploading = threading.Thread(target=lambda: answers.append(upload(port, admin_key, [one] * files)))
        upload_started = time.monotonic()
        uploading.start()
        # The ingest has begun once the first file's row is committed: before that the web server is
        # still receiving and parsing the request body.
        ingest_started = None
        while uploading.is_alive():
            if ingest_started is None and Dataset.objects.filter(pk__gt=latest).exists():
                ingest_started = time.monotonic()
            time.sleep(0.05)
        upload_ended = time.monotonic()
        prober.done.set()
        prober.join()
        status, _, answer = answers[0]
        if status != 200 or ingest_started is None:
            raise SystemExit(f"the upload answered {status}: {answer}")
        job_running_after_ingest = TrainingJob.objects.filter(pk=job_id, status="running").exists()
        job = finished(job_id, 1800)
    finally:
        platform.stop()

    samples = [
        {"at_s": round(s[0] - upload_started, 2), "status": s[1], "ms": round(s[2] * 1000, 1), "path": s[3]}
        for s in prober.samples
    ]
    (BENCH / "samples.json").write_text(json.dumps(samples, indent=0))
    receiving = [s for s in prober.samples if upload_started <= s[0] < ingest_started]
    during = [s for s in prober.samples if ingest_started <= s[0] <= upload_ended]
    latencies = [s[2] * 1000 for s in during]
    errors = [f"{s[3]} -> {s[1]}" for s in during if s[1] != 200]
    outcome = completeness(job_id)
    report = {
        "benchmark": "ingest_contention",
        "database": "sqlite",
        "files": files,
        "file_mb": round(file_size / 2**20, 1),
        "receive_s": round(ingest_started - upload_started, 1),
        "ingest_s": round(upload_ended - ingest_started, 1),
        "calls_during_ingest": len(during),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "errors": len(errors),
        "error_examples": errors[:5],
        # While the web server receives the body (before the ingest), for comparison: not the target.
        "calls_while_receiving": len(receiving),
        "max_ms_while_receiving": round(max(s[2] for s in receiving) * 1000, 1) if receiving else None,
        "job_running_after_ingest": job_running_after_ingest,
        **outcome,
        "target_max_ms": TARGET_MAX_MS,
    }
    report["meets_target"] = bool(
        latencies
        and max(latencies) < TARGET_MAX_MS
        and not errors
        and job.status == "succeeded"
        and outcome["job_step"] == outcome["job_max_steps"]
        and outcome["job_seq_gap_free"]
        and outcome["job_every_step_once"]
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
