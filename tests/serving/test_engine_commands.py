"""Engine command lines are argument lists of validated values; the engine never gets the platform's secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings

from serving_app import cache
from serving_app.engine.commands import EngineLaunch
from serving_app.engine.flags import EngineFlags
from serving_app.models import Engine


def launch(**changes) -> EngineLaunch:
    values = {
        "kind": "vllm",
        "python": "/opt/vllm/bin/python",
        "model": "/models/tiny",
        "served_name": "base-1",
        "port": 8123,
        "device": "cpu",
        "flags": EngineFlags(max_model_len=256, max_lora_rank=8, max_loras=4),
        "enable_lora": True,
        "chat_template_file": "/srv/engines/1/chat_template.jinja",
    }
    values.update(changes)
    return EngineLaunch(**values)


def test_vllm_command_line():
    assert launch().argv() == [
        "/opt/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/models/tiny", "--served-model-name", "base-1",
        "--host", "127.0.0.1", "--port", "8123", "--dtype", "auto",
        "--max-model-len", "256", "--chat-template", "/srv/engines/1/chat_template.jinja",
        "--gpu-memory-utilization", "0.3",
        "--enable-lora", "--max-lora-rank", "8", "--max-loras", "4",
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    gpu = launch(device="1", flags=EngineFlags(gpu_memory_utilization=0.8), enable_lora=False).argv()
    assert gpu[gpu.index("--gpu-memory-utilization") + 1] == "0.8" and "--enable-lora" not in gpu


def test_builtin_command_line():
    argv = launch(kind="builtin", python="/venv/bin/python", chat_template_file=None, device="0").argv()
    assert argv[:3] == ["/venv/bin/python", "-m", "serving_app.engine.builtin_server"]
    assert argv[-2:] == ["--device", "cuda"] and "--enable-lora" not in argv


@pytest.mark.parametrize(
    ("flags", "device", "field"),
    [
        (EngineFlags(max_model_len=8), "cpu", "max_model_len"),
        (EngineFlags(gpu_memory_utilization=1.5), "cpu", "gpu_memory_utilization"),
        (EngineFlags(dtype="int4; rm -rf /"), "cpu", "dtype"),
        (EngineFlags(max_lora_rank=7), "cpu", "max_lora_rank"),
        (EngineFlags(max_loras=0), "cpu", "max_loras"),
        (EngineFlags(), "cuda:0 --trust-remote-code", "device"),
    ],
)
def test_invalid_flags_never_reach_a_command(flags, device, field):
    with pytest.raises(ValueError, match=field):
        launch(flags=flags, device=device).argv()


def test_the_engine_environment_holds_no_platform_secrets():
    base = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "DATABASE_URL": "postgres://u:p@db/x",
        "SECRET_KEY": "s",
        "S3_SECRET_ACCESS_KEY": "k",
        "REDIS_URL": "redis://r",
        "VLLM_API_KEY": "old",
    }
    env = launch().env(base, api_key="fresh", cpu_kvcache_gb=1)
    assert not {"DATABASE_URL", "SECRET_KEY", "S3_SECRET_ACCESS_KEY", "REDIS_URL"} & set(env)
    assert env["VLLM_API_KEY"] == "fresh" and env["PATH"] == "/usr/bin"
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True" and env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert launch(device="2").env(base, api_key="x", cpu_kvcache_gb=1)["CUDA_VISIBLE_DEVICES"] == "2"


@pytest.mark.django_db
def test_operators_flags_are_validated_in_the_admin():
    engine = Engine(key="vllm:cpu:base:1", kind="vllm", model_name="base-1", max_model_len=5, dtype="int4")
    engine.gpu_memory_utilization = 2.0
    with pytest.raises(ValidationError) as invalid:
        engine.full_clean()
    assert {"max_model_len", "gpu_memory_utilization", "dtype"} <= set(invalid.value.message_dict)


def test_bad_serving_settings_are_reported_by_checks():
    with override_settings(SERVING_MAX_LORA_RANK=7, SERVING_DEVICE="gpu0", SERVING_DEFAULT_ENGINE="tgi"):
        ids = {message.id for message in run_checks()}
    assert {"serving.E001", "serving.E002", "serving.E003"} <= ids
    assert not {m.id for m in run_checks()} & {"serving.E001", "serving.E002", "serving.E003"}


def test_artifacts_are_fetched_into_the_cache_once(tmp_path, settings):
    settings.SERVING_DIR = tmp_path
    names = [default_storage.save(f"test-cache/{n}", ContentFile(n.encode())) for n in ("a.json", "b.bin")]
    files = [{"path": "adapter_config.json", "name": names[0]}, {"path": "sub/weights.bin", "name": names[1]}]
    local = cache.materialise(files)
    assert (local / "adapter_config.json").read_text() == "a.json"
    assert (local / "sub" / "weights.bin").read_text() == "b.bin"
    assert cache.materialise(files) == local
    with pytest.raises(ValueError, match="unsafe"):
        cache.materialise([{"path": "../escape", "name": names[0]}])
    assert cache.prune({local}) == [] and local.is_dir()
    assert cache.prune(set()) == [local] and not local.exists()


@pytest.mark.django_db
def test_the_base_models_chat_template_is_handed_to_the_engine(org_a, tiny_model, settings, tmp_path):
    from serving_app import services
    from serving_app.supervisor import Supervisor
    from training_app.trainer.templates import LLAMA3

    settings.SERVING_DIR = tmp_path
    tiny_model.chat_template_source, tiny_model.chat_template_name = "named", "llama3"
    tiny_model.save()
    deployment = services.publish(org_a, base_model=tiny_model, name="tiny", engine="builtin")
    launch = Supervisor("here").launch_for(deployment.engine, [deployment])
    argv = launch.argv()
    template = argv[argv.index("--chat-template") + 1]
    assert Path(template).read_text(encoding="utf-8") == LLAMA3
    assert argv[argv.index("--model") + 1] == tiny_model.path
    assert argv[argv.index("--served-model-name") + 1] == deployment.engine.model_name
