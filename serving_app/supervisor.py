"""The serving supervisor (``manage.py serve_models``): makes engine processes match the Deployment rows.

Each tick, for every engine that has starting or ready deployments, it starts the process if needed,
health-checks it, restarts it after a crash (with backoff, up to SERVING_MAX_RESTARTS), loads the adapters
that should be there and unloads the ones that should not, and marks deployments ready. Engines nobody
uses any more are stopped after SERVING_IDLE_SECONDS. The database is the truth: a restarted supervisor
kills the engines its predecessor left and starts them afresh.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from gpu_workers.serving_holds import clear_serving_holds, hold_for_serving, release_for_serving
from llm_platform.db import retrying
from serving_app import cache
from serving_app.conf import engine_flags, serving_dir, vllm_python
from serving_app.engine.client import EngineClient, EngineRequestError
from serving_app.engine.commands import LISTEN_HOST, EngineLaunch
from serving_app.engine.process import EngineProcess, command_line, free_port, kill_group, log_tail
from serving_app.models import Deployment, DeploymentStatus, Engine, EngineKind, EngineStatus
from serving_app.services import mark_failed, mark_ready, mark_starting
from training_app.base_models import chat_template_for
from training_app.trainer.templates import resolve_chat_template

logger = logging.getLogger(__name__)

HEALTH_EVERY = 5.0  # seconds between health checks of a ready engine
HEALTH_FAILURES = 3  # consecutive failed checks before a live but unresponsive engine is restarted
LOG_EVERY = 5.0
STABLE_AFTER = 300.0  # an engine ready this long has its restart count forgiven
WANTED = (DeploymentStatus.STARTING, DeploymentStatus.READY)
GPU_RETRY_SECONDS = 5.0  # how often an engine waiting for a GPU that a training job holds looks again
GPU_WAIT = "Waiting for GPU"  # how gpu_workers.serving_holds starts that note


def _save_engine(engine_id: int, **fields) -> int:
    """An engine's state, written through a short database outage: the gateway routes by it."""
    return retrying(
        lambda: Engine.objects.filter(pk=engine_id).update(**fields), what=f"the state of engine {engine_id}"
    )


def _deployment(change, deployment_id: int, *args) -> bool:
    """``mark_ready`` and the like, written through a short database outage."""
    return retrying(
        functools.partial(change, deployment_id, *args), what=f"the status of deployment {deployment_id}"
    )


@dataclass
class Running:
    process: EngineProcess
    client: EngineClient
    ready: bool = False
    ready_since: float = 0.0
    last_health: float = 0.0
    health_failures: int = 0
    last_log: float = 0.0
    loaded: set[str] | None = None  # adapter names the engine has, as far as we know
    notes: list[str] = field(default_factory=list)


class Supervisor:
    def __init__(self, host: str, tick_seconds: float = 1.0):
        self.host = host
        self.tick_seconds = tick_seconds
        self.running: dict[int, Running] = {}
        self.retry_at: dict[int, float] = {}
        self.idle_since: dict[int, float] = {}
        self.holding: dict[int, int] = {}  # engine id -> the GPU index it holds against training
        self.stopping = False

    # --- the loop -------------------------------------------------------------------------------------
    def run(self) -> None:
        self.adopt()
        try:
            while not self.stopping:
                close_old_connections()
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - a database hiccup must not stop serving
                    logger.exception("serving supervisor tick failed")
                time.sleep(self.tick_seconds)
        finally:
            self.shutdown()

    def mine(self):
        return Engine.objects.filter(Q(host="") | Q(host=self.host)).select_related("base_model")

    def tick(self) -> None:
        seen = set()
        for engine in self.mine():
            seen.add(engine.pk)
            wanted = list(
                engine.deployments.filter(status__in=WANTED).select_related("base_model").order_by("pk")
            )
            if wanted:
                self.idle_since.pop(engine.pk, None)
                self.ensure(engine, wanted)
            else:
                self.idle(engine)
        for engine_id in set(self.running) - seen:  # its row was deleted (admin): nothing may use it
            self.running.pop(engine_id).process.stop()
            self.release_gpu(engine_id)

    # --- one engine that is wanted -----------------------------------------------------------------
    def ensure(self, engine: Engine, wanted: list[Deployment]) -> None:
        run = self.running.get(engine.pk)
        now = time.monotonic()
        if run is None:
            if engine.status == EngineStatus.FAILED and engine.restarts > settings.SERVING_MAX_RESTARTS:
                for deployment in wanted:
                    _deployment(mark_failed, deployment.pk, engine.error or "The engine failed.")
            elif now >= self.retry_at.get(engine.pk, 0):
                self.start(engine, wanted)
            return
        code = run.process.exit_code()
        if code is not None:
            self.crashed(engine, wanted, f"The engine exited with code {code}.", code)
            return
        self.refresh_log(engine, run, now)
        if not run.ready:
            if run.client.healthy():
                run.ready, run.ready_since, run.last_health = True, now, now
                _save_engine(engine.pk, status=EngineStatus.READY, ready_at=timezone.now())
                logger.info("engine %s is ready", engine.key)
            elif now - run.process.started > settings.SERVING_START_TIMEOUT:
                run.process.stop()
                timeout = settings.SERVING_START_TIMEOUT
                self.crashed(engine, wanted, f"The engine did not become ready within {timeout} s.", None)
                return
            else:
                return
        if now - run.last_health >= HEALTH_EVERY and not self.check_health(engine, run, wanted, now):
            return
        self.sync(engine, run, wanted)

    def check_health(self, engine: Engine, run: Running, wanted: list[Deployment], now: float) -> bool:
        run.last_health = now
        if run.client.healthy():
            run.health_failures = 0
            run.loaded = None  # re-read what the engine really has
            if engine.restarts and now - run.ready_since > STABLE_AFTER:
                _save_engine(engine.pk, restarts=0)
            return True
        run.health_failures += 1
        if run.health_failures < HEALTH_FAILURES:
            return True
        run.process.stop()
        self.crashed(engine, wanted, "The engine stopped answering its health check.", None)
        return False

    def sync(self, engine: Engine, run: Running, wanted: list[Deployment]) -> None:
        """Adapters in the engine = adapters of wanted deployments; then mark them ready."""
        try:
            if run.loaded is None:
                run.loaded = run.client.adapters()
        except Exception as exc:  # noqa: BLE001 - an engine that cannot list is checked again next tick
            logger.warning("engine %s: cannot list adapters: %s", engine.key, exc)
            return
        names = {d.engine_name for d in wanted if d.is_adapter}
        for name in sorted(run.loaded - names):
            try:
                run.client.unload_adapter(name)
                run.loaded.discard(name)
                logger.info("engine %s: unloaded %s", engine.key, name)
            except EngineRequestError as exc:
                logger.warning("engine %s: cannot unload %s: %s", engine.key, name, exc)
            self.prune_cache()
        for deployment in wanted:
            if deployment.is_adapter and deployment.engine_name not in run.loaded:
                try:
                    path = cache.materialise(deployment.artifacts.get("files", []))
                    run.client.load_adapter(deployment.engine_name, str(path))
                except (EngineRequestError, OSError, ValueError) as exc:
                    _deployment(mark_failed, deployment.pk, f"The engine could not load the adapter: {exc}")
                    continue
                run.loaded.add(deployment.engine_name)
                logger.info("engine %s: loaded %s", engine.key, deployment.engine_name)
            if deployment.status != DeploymentStatus.READY:
                _deployment(mark_ready, deployment.pk)

    # --- starting, crashing, stopping ---------------------------------------------------------------
    def launch_for(self, engine: Engine, wanted: list[Deployment]) -> EngineLaunch:
        base = engine.base_model or wanted[0].base_model
        if engine.base_model is not None:
            model = base.path or base.hub_id
        else:  # a full or freeze fine-tune: its own weights, fetched from storage
            model = str(cache.materialise(wanted[0].artifacts.get("files", [])))
        python = vllm_python() if engine.kind == EngineKind.VLLM else sys.executable
        if python is None:
            raise ValueError("vLLM is not installed here (VLLM_PYTHON); an operator runs `make vllm`")
        template = resolve_chat_template(chat_template_for(base))
        template_file = None
        if template:
            template_path = serving_dir() / "engines" / str(engine.pk) / "chat_template.jinja"
            template_path.parent.mkdir(parents=True, exist_ok=True)
            template_path.write_text(template, encoding="utf-8")
            template_file = str(template_path)
        return EngineLaunch(
            kind=engine.kind,
            python=python,
            model=model,
            served_name=engine.model_name,
            port=free_port(),
            device=engine.device,
            flags=engine_flags(engine),
            enable_lora=engine.enable_lora,
            chat_template_file=template_file,
            trust_remote_code=base.trust_remote_code,
        )

    def start(self, engine: Engine, wanted: list[Deployment]) -> None:
        if not Engine.objects.filter(pk=engine.pk, host__in=["", self.host]).update(host=self.host):
            return  # another supervisor claimed it
        if not self.hold_gpu(engine, wanted):
            return
        try:
            launch = self.launch_for(engine, wanted)
            argv = launch.argv()
        except (OSError, ValueError) as exc:
            self.release_gpu(engine.pk)
            message = f"The engine cannot start: {exc}"
            _save_engine(
                engine.pk,
                status=EngineStatus.FAILED,
                error=message,
                restarts=settings.SERVING_MAX_RESTARTS + 1,
            )
            for deployment in wanted:
                _deployment(mark_failed, deployment.pk, message)
            return
        api_key = secrets.token_urlsafe(24)
        env = launch.env(dict(os.environ), api_key=api_key, cpu_kvcache_gb=settings.SERVING_CPU_KVCACHE_GB)
        process = EngineProcess.start(argv, env, self.log_path(engine), cwd=settings.BASE_DIR)
        base_url = f"http://{LISTEN_HOST}:{launch.port}"
        self.running[engine.pk] = Running(process, EngineClient(base_url, api_key))
        _save_engine(
            engine.pk,
            status=EngineStatus.STARTING,
            pid=process.pid,
            port=launch.port,
            base_url=base_url,
            api_key=api_key,
            argv=argv,
            started_at=timezone.now(),
            ready_at=None,
        )
        logger.info("engine %s: started pid %s on port %s", engine.key, process.pid, launch.port)

    def crashed(self, engine: Engine, wanted: list[Deployment], reason: str, code: int | None) -> None:
        run = self.running.pop(engine.pk)
        run.process.stop(timeout=5)
        run.client.close()
        self.release_gpu(engine.pk)
        tail = log_tail(run.process.log_path)
        last_lines = "\n".join(tail.strip().splitlines()[-5:])
        restarts = engine.restarts + 1
        give_up = restarts > settings.SERVING_MAX_RESTARTS
        _save_engine(
            engine.pk,
            status=EngineStatus.FAILED,
            restarts=restarts,
            last_exit_code=code,
            error=f"{reason}\n{last_lines}".strip(),
            log_tail=tail,
            pid=None,
        )
        logger.warning("engine %s: %s (restart %s)", engine.key, reason, restarts)
        for deployment in wanted:
            if give_up:
                _deployment(
                    mark_failed, deployment.pk, f"{reason} It was restarted {restarts - 1} times; giving up."
                )
            else:
                _deployment(mark_starting, deployment.pk, f"{reason} Restarting it.")
        self.retry_at[engine.pk] = time.monotonic() + min(60.0, 2.0**restarts)

    def idle(self, engine: Engine) -> None:
        run = self.running.get(engine.pk)
        if run is None:
            if engine.base_model_id is None and not engine.deployments.exists():
                Engine.objects.filter(pk=engine.pk).delete()  # an own-weights engine is never reused
                self.prune_cache()
            return
        since = self.idle_since.setdefault(engine.pk, time.monotonic())
        if time.monotonic() - since >= settings.SERVING_IDLE_SECONDS:
            self.stop(engine)

    def stop(self, engine: Engine) -> None:
        run = self.running.pop(engine.pk)
        run.process.stop()
        run.client.close()
        self.release_gpu(engine.pk)
        _save_engine(
            engine.pk,
            status=EngineStatus.STOPPED,
            pid=None,
            port=None,
            base_url="",
            api_key="",
            log_tail=log_tail(run.process.log_path),
        )
        logger.info("engine %s: stopped (nobody uses it)", engine.key)
        self.prune_cache()

    def adopt(self) -> None:
        """Engines a previous supervisor on this host left running are stopped, then started afresh."""
        for engine in Engine.objects.filter(host=self.host).exclude(pid=None):
            if engine.model_name in command_line(engine.pid):
                kill_group(engine.pid)
            self.forget(engine)
        clear_serving_holds(self.host)  # whatever the earlier supervisor held, it holds no more

    def shutdown(self) -> None:
        """Stop every engine at once (SIGTERM to all, then wait), so stopping takes one engine's time."""
        running, self.running = self.running, {}
        for run in running.values():
            run.process.terminate()
        for engine_id, run in running.items():
            run.process.stop()
            run.client.close()
            self.release_gpu(engine_id)
            engine = Engine.objects.filter(pk=engine_id).first()
            if engine is not None:
                self.forget(engine)

    def forget(self, engine: Engine) -> None:
        _save_engine(engine.pk, status=EngineStatus.STOPPED, pid=None, port=None, base_url="", api_key="")
        for deployment_id in engine.deployments.filter(status=DeploymentStatus.READY).values_list(
            "pk", flat=True
        ):
            _deployment(mark_starting, deployment_id, "The serving supervisor restarted.")

    # --- the GPU an engine runs on, shared with training (gpu_workers.serving_holds) -----------------
    def hold_gpu(self, engine: Engine, wanted: list[Deployment]) -> bool:
        """Hold the engine's GPU against training jobs; False (and a note) while a job is using it."""
        if engine.device == "cpu" or engine.pk in self.holding:
            return True
        index = int(engine.device)
        waiting = hold_for_serving(self.host, index)
        if waiting is None:
            self.holding[engine.pk] = index
            Engine.objects.filter(pk=engine.pk, error__startswith=GPU_WAIT).update(error="")
            return True
        _save_engine(engine.pk, error=waiting)
        Deployment.objects.filter(pk__in=[d.pk for d in wanted], status=DeploymentStatus.STARTING).update(
            error=waiting
        )
        self.retry_at[engine.pk] = time.monotonic() + GPU_RETRY_SECONDS
        return False

    def release_gpu(self, engine_id: int) -> None:
        index = self.holding.pop(engine_id, None)
        if index is not None:
            release_for_serving(self.host, index)

    # --- housekeeping --------------------------------------------------------------------------------
    def log_path(self, engine: Engine):
        return serving_dir() / "engines" / f"{engine.pk}.log"

    def refresh_log(self, engine: Engine, run: Running, now: float) -> None:
        if now - run.last_log >= LOG_EVERY:
            run.last_log = now
            _save_engine(engine.pk, log_tail=log_tail(run.process.log_path))

    def prune_cache(self) -> None:
        keep = {
            cache.cache_path(files)
            for files in (d.artifacts.get("files") for d in Deployment.objects.only("artifacts"))
            if files
        }
        cache.prune(keep)
