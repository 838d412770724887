"""Live-monitoring latency: from the runner recording an event to websocket clients receiving it.

The path measured is the production one: ``training_app.events.record_event`` (the function the runner
calls: the row, the commit, then ``group_send`` on the Redis channel layer) -> daphne (a real ASGI
server, started here on a free localhost port) -> ``JobConsumer`` -> websocket -> CLIENTS clients
(autobahn, which daphne already depends on; in a process of their own, like browsers), all following
one job that emits RATE events a second, a trainer-like mix of metric, progress and log events.

Redis is the configured ``REDIS_URL`` (with a channel prefix of its own), or an embedded server under
var/bench/live/ when it is unset. The database is a throwaway SQLite file under var/bench/live/,
migrated here and deleted at the end. Prints one JSON object as the last line.

    .venv/bin/python benchmarks/live_latency.py [--seconds 10] [--clients 20] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench" / "live"
DB = VAR / "bench.sqlite3"
TARGET_P95_MS = 100
WARMUP_EVENTS = 10  # the writer's first pushes open its Redis connection; not part of steady state


def setup_django() -> None:
    """Settings come from the environment: point them at the throwaway database, then start Django."""
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ["TUNEFORGE_VAR_DIR"] = str(VAR)
    os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
    os.environ["CHANNEL_LAYER_PREFIX"] = f"bench-live-{os.getpid()}"
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llm_platform.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def now_ns() -> int:
    # CLOCK_MONOTONIC is one clock for every process of the machine: the writer and the followers
    # run in different processes and compare their readings.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def prepare() -> tuple[int, str]:
    """A migrated database with one org, one member and one running job; the member's session id."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from llm_platform.models import Role
    from llm_platform.services import add_member, create_organization
    from training_app.models import BaseModel, TrainingJob

    for path in (DB, *(Path(f"{DB}{suffix}") for suffix in ("-journal", "-wal", "-shm"))):
        path.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    org, _ = create_organization("bench", "Bench")
    membership, _ = add_member(org, "watcher", Role.MEMBER, password=secrets.token_hex(16))
    base = BaseModel.objects.create(name="bench-base", path="/models/bench", is_valid=True)
    job = TrainingJob.objects.create(organization=org, name="followed", base_model=base, status="running")
    client = Client()
    client.force_login(membership.user)
    return job.pk, client.cookies[settings.SESSION_COOKIE_NAME].value


def write_events(job_id: int, count: int, rate: float) -> list[int]:
    """The runner's side: ``count`` events at ``rate`` a second, on an absolute schedule (no drift).
    Returns when each was handed to record_event."""
    from training_app.events import record_event

    sent = []
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent.append(now_ns())
        if i % 5 == 0:
            record_event(job_id, "progress", {"i": i, "step": i, "total_steps": count, "eta_seconds": 1.0})
        elif i % 5 in (1, 3):
            record_event(job_id, "metric", {"i": i, "step": i, "loss": 1.0 / (1 + i), "learning_rate": 1e-4})
        else:
            record_event(job_id, "log", {"i": i, "message": f"step {i}"}, level="info")
    return sent


async def follow(port: int, job_id: int, cookie: str, clients: int, count: int) -> list[list[list[int]]]:
    """The browsers' side, in a process of its own (daphne's Django app pins autobahn to Twisted in any
    process that loads it): CLIENTS websockets; says "ready" once all are open, then records when each
    event arrives, by the writer's index ``i``, until every client has every event (or 30 s of quiet)."""
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    class Follower(WebSocketClientProtocol):
        def onOpen(self):  # noqa: N802 - autobahn's hook names
            self.factory.opened.set_result(self)

        def onMessage(self, payload, isBinary):  # noqa: N802, N803
            at = now_ns()
            self.factory.arrivals.append([json.loads(payload)["i"], at])

    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/?after_seq=0"
    factories = []
    for _ in range(clients):
        factory = WebSocketClientFactory(
            url, origin=f"http://127.0.0.1:{port}", headers={"Cookie": f"sessionid={cookie}"}
        )
        factory.protocol = Follower
        factory.opened, factory.arrivals = loop.create_future(), []
        await loop.create_connection(factory, "127.0.0.1", port)
        factories.append(factory)
    protocols = [await asyncio.wait_for(f.opened, 30) for f in factories]
    print("ready", flush=True)
    quiet_since, received = time.monotonic(), 0
    while any(len(f.arrivals) < count for f in factories) and time.monotonic() - quiet_since < 30:
        await asyncio.sleep(0.05)
        total = sum(len(f.arrivals) for f in factories)
        if total != received:
            quiet_since, received = time.monotonic(), total
    for protocol in protocols:
        protocol.sendClose()
    await asyncio.sleep(0.2)
    return [f.arrivals for f in factories]


def run_followers(port: int, job_id: int, cookie: str, clients: int, count: int):
    """Start the follower process, wait for its "ready", write, then collect its arrivals."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--follow", str(port), str(job_id), cookie, str(clients), str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the websocket followers did not connect")
        return proc, proc.stdout
    except BaseException:
        proc.kill()
        raise


def percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--follow", nargs=5, metavar=("PORT", "JOB", "COOKIE", "CLIENTS", "COUNT"))
    args = parser.parse_args()
    if args.follow:
        port, job_id, cookie, clients, count = args.follow
        arrivals = asyncio.run(follow(int(port), int(job_id), cookie, int(clients), int(count)))
        print(json.dumps(arrivals))
        return

    setup_django()
    from django.conf import settings

    from llm_platform import redis_embedded

    count = WARMUP_EVENTS + int(args.seconds * args.rate)
    started_redis = redis_embedded.start() if settings.EMBEDDED_REDIS else False
    server = followers = None
    try:
        job_id, cookie = prepare()
        from tests.asgi import AsgiServer  # daphne on a port-0 socket, in its own process group

        server = AsgiServer(env=dict(os.environ), log_path=VAR / "daphne.log", cwd=ROOT, verbosity=0)
        followers, stream = run_followers(server.port, job_id, cookie, args.clients, count)
        sent = write_events(job_id, count, args.rate)
        arrivals = json.loads(stream.read())
        followers.wait(timeout=60)
    finally:
        if followers is not None and followers.poll() is None:
            followers.kill()
            followers.wait()
        if server is not None:
            server.stop()
        if started_redis:
            redis_embedded.stop()
        DB.unlink(missing_ok=True)

    latencies, lost, duplicates = [], 0, 0
    for per_client in arrivals:
        seen = [i for i, _ in per_client]
        duplicates += len(seen) - len(set(seen))
        lost += count - len(set(seen))
        latencies += [(at - sent[i]) / 1e6 for i, at in per_client if i >= WARMUP_EVENTS]
    latencies.sort()
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    result = {
        "benchmark": "live_latency",
        "p50_ms": round(percentile(latencies, 0.50), 2) if latencies else None,
        "p95_ms": round(p95, 2),
        "p99_ms": round(percentile(latencies, 0.99), 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "events": count - WARMUP_EVENTS,
        "warmup_events": WARMUP_EVENTS,
        "clients": args.clients,
        "rate_per_s": args.rate,
        "deliveries": len(latencies),
        "lost": lost,
        "duplicates": duplicates,
        "redis": "embedded" if settings.EMBEDDED_REDIS else "REDIS_URL",
        "server": "daphne",
        "target_p95_ms": TARGET_P95_MS,
        "ok": p95 <= TARGET_P95_MS and lost == 0 and duplicates == 0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
