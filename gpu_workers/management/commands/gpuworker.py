"""An RQ worker bound to one device (``--device cpu`` on machines without GPUs)."""

from __future__ import annotations

import django_rq
from django.core.management.base import BaseCommand
from rq import Worker

from gpu_workers.queues import device_queue_name, get_queue


class Command(BaseCommand):
    help = "Run an RQ worker bound to a device: --device cpu, or a GPU index."

    def add_arguments(self, parser):
        parser.add_argument("--device", default="cpu", help="'cpu' or a GPU index such as 0")
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty")

    def handle(self, *args, device, burst, **options):
        connection = django_rq.get_connection("default")
        queues = [get_queue(device_queue_name(device)), get_queue("default")]
        self.stdout.write(f"worker for device {device} on queues {', '.join(q.name for q in queues)}")
        Worker(queues, connection=connection).work(burst=burst, with_scheduler=False)
