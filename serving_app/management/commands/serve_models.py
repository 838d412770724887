"""``manage.py serve_models``: the serving supervisor (``make up`` starts it beside the web server).

SIGTERM or Ctrl-C stops every engine it started (by process group) before it exits.
"""

from __future__ import annotations

import logging
import signal

from django.core.management.base import BaseCommand

from gpu_workers.devices import host_name
from serving_app.supervisor import Supervisor


class Command(BaseCommand):
    help = "Start, health-check, restart and stop the engine processes that serve published models."

    def add_arguments(self, parser):
        parser.add_argument("--tick", type=float, default=1.0, help="Seconds between reconciliations.")

    def handle(self, *args, tick: float, **options):
        logging.getLogger("serving_app").setLevel(logging.INFO)
        supervisor = Supervisor(host_name(), tick_seconds=tick)

        def stop(signum, frame):
            supervisor.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"serving supervisor on {supervisor.host}")
        supervisor.run()
        self.stdout.write("serving supervisor stopped")
