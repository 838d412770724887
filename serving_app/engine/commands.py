"""Engine command lines: argument lists built from validated values, never a shell string.

``vllm`` runs ``python -m vllm.entrypoints.openai.api_server`` from its own virtual environment (VLLM_PYTHON);
``builtin`` runs :mod:`serving_app.engine.builtin_server` in the platform's environment. Both speak the same
OpenAI-compatible HTTP API, including runtime LoRA loading, so the supervisor and the gateway treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving_app.engine.flags import EngineFlags, device_error

LISTEN_HOST = "127.0.0.1"  # engines have no tenancy of their own: only the gateway may reach them
# Never handed to an engine: the platform's secrets and where its database and queues are.
_PRIVATE_ENV_PREFIXES = ("DATABASE_", "REDIS_", "SECRET_KEY", "S3_", "DJANGO_", "VLLM_API_KEY")


@dataclass(frozen=True)
class EngineLaunch:
    """Everything needed to start one engine process."""

    kind: str  # "vllm" or "builtin"
    python: str
    model: str  # a local directory (or a hub id where the machine has the internet)
    served_name: str
    port: int
    device: str
    flags: EngineFlags
    enable_lora: bool
    chat_template_file: str | None = None
    trust_remote_code: bool = False

    def argv(self) -> list[str]:
        problems = self.flags.errors()
        if device_error(self.device):
            problems.append(("device", device_error(self.device)))
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
        if self.kind == "vllm":
            return self._vllm_argv()
        if self.kind == "builtin":
            return self._builtin_argv()
        raise ValueError(f"unknown engine kind {self.kind!r}")

    def _common(self) -> list[str]:
        argv = ["--model", self.model, "--served-model-name", self.served_name]
        argv += ["--host", LISTEN_HOST, "--port", str(self.port), "--dtype", self.flags.dtype]
        if self.flags.max_model_len:
            argv += ["--max-model-len", str(self.flags.max_model_len)]
        if self.chat_template_file:
            argv += ["--chat-template", self.chat_template_file]
        if self.trust_remote_code:
            argv.append("--trust-remote-code")
        return argv

    def _vllm_argv(self) -> list[str]:
        argv = [self.python, "-m", "vllm.entrypoints.openai.api_server", *self._common()]
        argv += ["--gpu-memory-utilization", str(self.flags.memory_utilization(self.device))]
        if self.enable_lora:
            argv += ["--enable-lora", "--max-lora-rank", str(self.flags.max_lora_rank)]
            argv += ["--max-loras", str(self.flags.max_loras)]
        return [*argv, "--disable-uvicorn-access-log"]

    def _builtin_argv(self) -> list[str]:
        device = "cpu" if self.device == "cpu" else "cuda"
        return [self.python, "-m", "serving_app.engine.builtin_server", *self._common(), "--device", device]

    def env(self, base: dict[str, str], *, api_key: str, cpu_kvcache_gb: int) -> dict[str, str]:
        """The engine's environment: the platform's minus its secrets, plus what the engine needs."""
        env = {k: v for k, v in base.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}
        env["VLLM_API_KEY"] = api_key  # both engines require it on /v1/*, like vLLM's --api-key
        env["PYTHONUNBUFFERED"] = "1"
        env["CUDA_VISIBLE_DEVICES"] = "" if self.device == "cpu" else self.device
        if self.kind == "vllm":
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
            env["VLLM_NO_USAGE_STATS"] = "1"
            env["DO_NOT_TRACK"] = "1"
            if self.device == "cpu":
                env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kvcache_gb)
        return env
