"""Web-process memory while a large upload is taken in, and how long a gzip bomb keeps it busy.

The web process is daphne serving ``llm_platform.asgi`` as ``manage.py up`` starts it, on the default
set-up (SQLite, embedded Redis) in a throwaway var directory. A background worker (``manage.py rqworker
default``, as ``make up`` runs it) processes the large file. Measured:

- ``web_peak_rss_mb``: the web process's peak RSS (sampled every 20 ms with psutil) from before a
  generated ~200 MB alpaca JSON-lines file is sent through ``POST /api/datasets/`` (with an API key) until
  the dataset is ready; ``worker_peak_rss_mb`` is the worker's (it processes files above
  ``INLINE_INGEST_MAX_MB``, in a forked work horse: the largest process of its tree is counted).
- ``bomb_seconds``: from the last byte of a ~2 MB ``.jsonl.gz`` of blank lines (about 2 GB unpacked) to
  the answer; ``bomb_web_cpu_seconds`` is the CPU the web process spent on it (it keeps going if the
  request did not stop it). The client gives up after ``--bomb-timeout`` seconds.

    .venv/bin/python benchmarks/upload_memory.py [--mb 200] [--bomb-timeout 120]

Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench" / "upload"
TARGET_PEAK_RSS_MB = 300
TARGET_BOMB_SECONDS = 5
SAMPLE_SECONDS = 0.02
SEND_CHUNK = 1 << 20
MB = 1024 * 1024


def setup_django(var: Path) -> None:
    os.environ["TUNEFORGE_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)  # the default SQLite file under the throwaway var dir
    os.environ["CHANNEL_LAYER_PREFIX"] = f"bench-upload-{os.getpid()}"
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llm_platform.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def alpaca_file(megabytes: int) -> Path:
    """A valid alpaca JSON-lines file of about ``megabytes`` MB, every row distinct (cached)."""
    path = CACHE / f"alpaca-{megabytes}mb.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    filler = "The quick brown fox jumps over the lazy dog while the model learns to answer. " * 6
    with open(partial, "w", encoding="utf-8") as out:
        written, i = 0, 0
        while written < megabytes * MB:
            row = {"instruction": f"Question {i}: what follows?", "input": filler, "output": f"Answer {i}."}
            written += out.write(json.dumps(row) + "\n")
            i += 1
    partial.rename(path)
    return path


def bomb_file(megabytes: int = 2048) -> Path:
    """A gzip of ``megabytes`` MB of blank lines: about 2 MB on disk (cached)."""
    path = CACHE / f"blank-lines-{megabytes}mb.jsonl.gz"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    block = b"\n" * MB
    with open(path.with_suffix(".partial"), "wb") as out:
        for _ in range(megabytes):
            out.write(compressor.compress(block))
        out.write(compressor.flush())
    path.with_suffix(".partial").rename(path)
    return path


class PeakRss:
    """Samples the peak RSS of some processes in a thread until stopped."""

    def __init__(self, **pids: int):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.baseline = {name: proc.memory_info().rss for name, proc in self.procs.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                try:
                    # rq runs each job in a forked work horse: the tree's largest process counts.
                    tree = [proc, *proc.children(recursive=True)]
                    self.peak[name] = max(self.peak[name], *(p.memory_info().rss for p in tree))
                except psutil.Error:
                    pass
            time.sleep(SAMPLE_SECONDS)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.peak


def post_file(port: int, key: str, path: Path, timeout: float) -> tuple[int, dict, float]:
    """Stream ``path`` as the multipart field ``file``; returns (status, body, seconds after the last byte)."""
    boundary = f"bench{secrets.token_hex(8)}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.putrequest("POST", "/api/datasets/")
    conn.putheader("Authorization", f"Bearer {key}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as source:
        while chunk := source.read(SEND_CHUNK):
            conn.send(chunk)
    conn.send(tail)
    sent = time.monotonic()
    try:
        response = conn.getresponse()
        body = json.loads(response.read() or b"{}")
        return response.status, body, time.monotonic() - sent
    except TimeoutError:
        return 0, {"error": f"no answer within {timeout} s"}, time.monotonic() - sent
    finally:
        conn.close()


def wait_ready(port: int, key: str, dataset_id: int, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/api/datasets/{dataset_id}/", headers={"Authorization": f"Bearer {key}"})
        body = json.loads(conn.getresponse().read())
        conn.close()
        if body.get("status") in ("ready", "failed"):
            return body
        time.sleep(0.5)
    return {"status": "timeout"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--bomb-timeout", type=float, default=120)
    args = parser.parse_args()

    big, bomb = alpaca_file(args.mb), bomb_file()
    CACHE.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    setup_django(var)
    from django.conf import settings
    from django.core.management import call_command

    from llm_platform import redis_embedded
    from llm_platform.models import ApiKey
    from llm_platform.services import create_organization
    from tests.asgi import AsgiServer  # daphne as `make up` runs it, on a port-0 socket

    started_redis = redis_embedded.start() if settings.EMBEDDED_REDIS else False
    server = worker = None
    try:
        call_command("migrate", verbosity=0)
        org, _ = create_organization("bench", "Bench")
        _key, raw_key = ApiKey.issue(org, name="bench")
        env = dict(os.environ)
        server = AsgiServer(env=env, log_path=var / "daphne.log", cwd=ROOT, verbosity=0)
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "rqworker", "default"],
            env=env,
            cwd=ROOT,
            stdout=open(var / "worker.log", "ab"),  # noqa: SIM115 - handed to the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        web = psutil.Process(server.pid)

        sampler = PeakRss(web=server.pid, worker=worker.pid)
        started = time.monotonic()
        status, body, answer_s = post_file(server.port, raw_key, big, timeout=600)
        final = wait_ready(server.port, raw_key, body["id"]) if status == 201 else body
        upload_s = time.monotonic() - started
        peak = sampler.stop()

        cpu_before = sum(web.cpu_times()[:2])
        bomb_status, bomb_body, bomb_s = post_file(server.port, raw_key, bomb, timeout=args.bomb_timeout)
        time.sleep(
            1.0
        )  # the web process's CPU a second after the answer (or the give-up) tells if it stopped
        cpu_after_answer = sum(web.cpu_times()[:2])
        time.sleep(2.0)
        still_busy = sum(web.cpu_times()[:2]) - cpu_after_answer > 1.0
        bomb_cpu = cpu_after_answer - cpu_before
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        if server is not None:
            server.stop()
        if started_redis:
            redis_embedded.stop()
        shutil.rmtree(var, ignore_errors=True)

    web_peak = peak["web"] / MB
    result = {
        "benchmark": "upload_memory",
        "upload_mb": round(big.stat().st_size / MB, 1),
        "upload_status": status,
        "dataset_status": final.get("status"),
        "dataset_rows": final.get("num_rows"),
        "upload_answer_seconds": round(answer_s, 2),
        "upload_to_ready_seconds": round(upload_s, 2),
        "web_baseline_rss_mb": round(sampler.baseline["web"] / MB, 1),
        "web_peak_rss_mb": round(web_peak, 1),
        "worker_peak_rss_mb": round(peak["worker"] / MB, 1),
        "bomb_mb": round(bomb.stat().st_size / MB, 2),
        "bomb_status": bomb_status,
        "bomb_message": (bomb_body.get("error") or {}).get("message")
        if isinstance(bomb_body.get("error"), dict)
        else bomb_body.get("error"),
        "bomb_seconds": round(bomb_s, 2),
        "bomb_web_cpu_seconds": round(bomb_cpu, 2),
        "web_still_busy_after_bomb": still_busy,
        "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
        "target_bomb_seconds": TARGET_BOMB_SECONDS,
        "ok": web_peak < TARGET_PEAK_RSS_MB
        and final.get("status") == "ready"
        and 400 <= bomb_status < 500
        and bomb_s < TARGET_BOMB_SECONDS
        and not still_busy,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
