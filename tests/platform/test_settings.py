import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from llm_platform import env


def test_env_helpers_parse_and_refuse(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.env_bool("X_BOOL") is True
    assert env.env_int("X_INT", 0) == 42
    assert env.env_list("X_LIST") == ["a", "b", "c"]
    assert env.env_secret("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env.env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "many")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env.env_int("X_INT", 0)


def _manage(*args, **env_vars):
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update(env_vars)
    return subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=settings.BASE_DIR,
        timeout=120,
    )


def test_secret_key_is_required_unless_debug():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_check_deploy_with_production_settings_has_no_errors():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "ERROR",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "-production-secret-with-enough-entropy-1234567890",
        ALLOWED_HOSTS="tuneforge.example.com",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_SSL_REDIRECT="true",
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr


def test_storage_backend_s3_is_configured_through_django_storages():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STORAGES['default']['BACKEND'])",
        DEBUG="true",
        STORAGE_BACKEND="s3",
        S3_BUCKET="models",
    )
    assert result.stdout.strip().splitlines()[-1] == "storages.backends.s3.S3Storage", result.stderr
