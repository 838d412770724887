import os
import subprocess
import sys

from django.conf import settings


def test_embedded_redis_starts_answers_and_stops(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environment.update(DEBUG="true", TUNEFORGE_VAR_DIR=str(tmp_path))

    def manage(*args):
        return subprocess.run(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "redis", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        ).stdout

    assert "not running" in manage("status")
    assert "started" in manage("start")
    assert (tmp_path / "redis" / "redis.sock").exists()
    assert manage("status").strip() == "running"
    assert "already running" in manage("start")
    assert manage("stop").strip() == "stopped"
    assert "not running" in manage("status")
