"""Serving: the gateway's overhead over direct engine calls, time to first token, decode speed, and the
memory of one engine carrying 4 LoRA adapters against 4 engines with one adapter each.

    .venv/bin/python benchmarks/serving.py [--engine vllm|builtin] [--requests 200] [--no-multi]

Everything is real and runs in a scratch platform under var/bench/serving: a fresh SQLite database, the
embedded Redis, the tiny model, 4 LoRA adapters (PEFT, random weights: speed and memory do not depend on
what they learned), ``manage.py serve_models`` and daphne. It publishes the 4 adapters (they share one
engine), then measures, one request at a time:

- direct_p50_ms / gateway_p50_ms: a chat completion with max_tokens=1, sent to the engine itself and through
  the gateway (daphne, the lean /v1 ASGI app: API-key check and name resolution in one SQL statement, proxy),
  alternating, p50 over --requests each;
- gateway_cpu_ms_per_request: CPU time the web process (daphne + Django + proxy) spends per such request,
  which unlike wall-clock time does not depend on what else the machine runs;
- ttft_ms: time to the first streamed content token through the gateway (p50 of 10);
- tokens_per_second: completion tokens per second of one streamed answer through the gateway, start to
  end (64 tokens, ignore_eos; p50 of 10);
- engine_rss_mb_1x4: resident memory of the engine's process tree with the 4 adapters loaded and used;
- engines_rss_mb_4x1: the same for 4 engines started with the same flags, one adapter each (--no-multi skips).

The last line is one JSON object. Target: overhead_p50_ms under 5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "var" / "bench" / "serving"
sys.path.insert(0, str(ROOT))
TARGET_OVERHEAD_MS = 5.0
ENGINE_ENV = {
    "SERVING_MAX_MODEL_LEN": "256",
    "SERVING_GPU_MEMORY_UTILIZATION": "0.3",
    "SERVING_CPU_KVCACHE_GB": "1",
    "SERVING_MAX_LORA_RANK": "8",
    "SERVING_IDLE_SECONDS": "5",
}


def configure() -> None:
    shutil.rmtree(BENCH / "state", ignore_errors=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "llm_platform.settings",
            "TUNEFORGE_VAR_DIR": str(BENCH / "state"),
            "MODEL_ROOTS": str(BENCH / "models"),
            "SECRET_KEY": "benchmark-only",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            **ENGINE_ENV,
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL", "DEBUG"):
        os.environ.pop(name, None)
    import django

    django.setup()


def make_adapters(base: Path, count: int) -> list[Path]:
    """LoRA adapters of rank 8 on every linear layer, with random (non-zero) weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapters = []
    for index in range(count):
        out = BENCH / "adapters" / f"adapter-{index}"
        if not (out / "adapter_model.safetensors").is_file():
            torch.manual_seed(index)
            model = AutoModelForCausalLM.from_pretrained(base)
            config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
            get_peft_model(model, config).save_pretrained(out)
        adapters.append(out)
    return adapters


def rss_mb(leader: int) -> float:
    """Resident memory of every process in the process group led by ``leader``."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != leader:  # field 5 of /proc/PID/stat: the process group
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return round(total / 1024, 1)


def cpu_ms(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def start(argv: list[str], log: str, env: dict | None = None) -> subprocess.Popen:
    handle = open(BENCH / log, "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env or dict(os.environ),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def timed_chat(http, url: str, key: str, model: str) -> float:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 1,
        "temperature": 0,
    }
    started = time.perf_counter()
    response = http.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def stream_timing(http, url: str, key: str, model: str) -> tuple[float, float]:
    """(time to the first content token in ms, completion tokens per second over the whole stream)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me about the weather today."}],
        "max_tokens": 64,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first = None
    tokens = 0
    with http.stream("POST", url, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    # Over the whole stream: an engine may hand several tokens over in one chunk.
    return (first - started) * 1000, tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["vllm", "builtin"], default="vllm")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-multi", action="store_true", help="skip starting 4 separate engines")
    args = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)
    configure()

    import httpx
    from django.core.management import call_command

    from llm_platform import redis_embedded
    from llm_platform.models import ApiKey
    from llm_platform.services import create_organization
    from serving_app import services
    from serving_app.conf import engine_flags, vllm_python
    from serving_app.engine.client import EngineClient
    from serving_app.engine.commands import EngineLaunch
    from serving_app.engine.process import free_port
    from serving_app.models import Deployment, Engine
    from tests.asgi import AsgiServer
    from training_app.artifacts import job_prefix, upload_directory
    from training_app.base_models import register_base_model
    from training_app.models import JobStatus, TrainingJob
    from training_app.trainer.tiny_model import build_tiny_model

    if args.engine == "vllm" and not vllm_python():
        raise SystemExit("No vLLM environment: run `make vllm` (or use --engine builtin).")
    call_command("migrate", verbosity=0)
    redis_embedded.start()
    base_dir = build_tiny_model(BENCH / "models" / "tiny-llama")
    base = register_base_model("tiny-llama", path=str(base_dir))
    org = create_organization("bench", "Benchmark")[0]
    _, key = ApiKey.issue(org, name="bench")
    for index, adapter in enumerate(make_adapters(base_dir, 4)):
        job = TrainingJob.objects.create(
            organization=org, name=f"adapter-{index}", base_model=base, status=JobStatus.SUCCEEDED
        )
        files = upload_directory(adapter, job_prefix(job))
        TrainingJob.objects.filter(pk=job.pk).update(artifacts={"files": files})
        job.refresh_from_db()
        services.publish(org, job=job, engine=args.engine)

    manage = [sys.executable, str(ROOT / "manage.py")]
    call_command("collectstatic", interactive=False, verbosity=0)
    supervisor = start([*manage, "serve_models", "--tick", "0.5"], "supervisor.log")
    web = AsgiServer(env=dict(os.environ), log_path=BENCH / "daphne.log", cwd=ROOT, verbosity=0)
    gateway = f"{web.url}/v1/chat/completions"
    extra: list[subprocess.Popen] = []
    try:
        started = time.monotonic()
        wait_for(lambda: Deployment.objects.filter(status="ready").count() == 4, 600, "the 4 deployments")
        startup_s = round(time.monotonic() - started, 1)
        engine = Engine.objects.get()
        first = Deployment.objects.order_by("name").first()
        direct = f"{engine.base_url}/v1/chat/completions"
        with httpx.Client(timeout=120) as http:
            wait_for(lambda: _ok(http, gateway, key, first.name), 60, "the gateway")
            for deployment in Deployment.objects.all():  # every adapter in use before memory is read
                timed_chat(http, gateway, key, deployment.name)
            for _ in range(10):
                timed_chat(http, direct, engine.api_key, first.engine_name)
                timed_chat(http, gateway, key, first.name)
            direct_ms, gateway_ms = [], []
            for _ in range(args.requests):
                direct_ms.append(timed_chat(http, direct, engine.api_key, first.engine_name))
                gateway_ms.append(timed_chat(http, gateway, key, first.name))
            before = cpu_ms(web.pid)
            for _ in range(args.requests):
                timed_chat(http, gateway, key, first.name)
            gateway_cpu = (cpu_ms(web.pid) - before) / args.requests
            streams = [stream_timing(http, gateway, key, first.name) for _ in range(10)]
            direct_streams = [
                stream_timing(http, direct, engine.api_key, first.engine_name) for _ in range(10)
            ]
        shared_rss = rss_mb(engine.pid)
        multi_rss = None
        if not args.no_multi:
            stop(supervisor)  # its engine too: measure the 4 engines alone
            adapters = sorted((BENCH / "adapters").iterdir())
            flags = engine_flags(engine)
            python = vllm_python() if args.engine == "vllm" else sys.executable
            for index, adapter in enumerate(adapters):
                launch = EngineLaunch(
                    args.engine, python, str(base_dir), "base", free_port(), "cpu", flags, True
                )
                env = launch.env(dict(os.environ), api_key="bench", cpu_kvcache_gb=1)
                proc = start(launch.argv(), f"engine-{index}.log", env)
                extra.append(proc)
                client = EngineClient(f"http://127.0.0.1:{launch.port}", "bench")
                wait_for(client.healthy, 600, f"engine {index}")
                client.load_adapter("a", str(adapter))
                with httpx.Client(timeout=120) as http:
                    timed_chat(http, f"http://127.0.0.1:{launch.port}/v1/chat/completions", "bench", "a")
            multi_rss = round(sum(rss_mb(p.pid) for p in extra), 1)
    finally:
        for proc in [*extra, supervisor]:
            stop(proc)
        web.stop()
        redis_embedded.stop()

    overhead = p50(gateway_ms) - p50(direct_ms)
    result = {
        "benchmark": "serving",
        "engine": args.engine,
        "requests": args.requests,
        "direct_p50_ms": p50(direct_ms),
        "gateway_p50_ms": p50(gateway_ms),
        "overhead_p50_ms": round(overhead, 2),
        "gateway_cpu_ms_per_request": round(gateway_cpu, 2),
        "direct_p90_ms": round(statistics.quantiles(direct_ms, n=10)[-1], 2),
        "gateway_p90_ms": round(statistics.quantiles(gateway_ms, n=10)[-1], 2),
        "ttft_ms": p50([s[0] for s in streams]),
        "direct_ttft_ms": p50([s[0] for s in direct_streams]),
        "tokens_per_second": p50([s[1] for s in streams]),
        "direct_tokens_per_second": p50([s[1] for s in direct_streams]),
        "engine_rss_mb_1x4": shared_rss,
        "engines_rss_mb_4x1": multi_rss,
        "startup_to_4_ready_s": startup_s,
        "target_overhead_p50_ms": TARGET_OVERHEAD_MS,
        "meets_target": overhead < TARGET_OVERHEAD_MS,
    }
    print(json.dumps(result))


def _ok(http, url: str, key: str, model: str) -> bool:
    try:
        timed_chat(http, url, key, model)
        return True
    except Exception:  # noqa: BLE001 - not yet
        return False


if __name__ == "__main__":
    main()
