"""``manage.py reconcile``: repair leases and queues from the database once, and say what was done.

Workers do this at start and at every heartbeat; operators run it after restoring Redis, or from cron
when no worker is up (devices of dead workers then still go offline and their leases are freed).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from gpu_workers.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Mark dead devices offline, requeue jobs of lost workers, release stale leases, re-enqueue lost jobs."
    )

    def handle(self, *args, **options):
        report = reconcile()
        self.stdout.write(
            f"devices marked offline: {report['offline']}\n"
            f"running jobs requeued or failed (worker lost): {report['recovered'] or 'none'}\n"
            f"stale leases released: {report['released']}\n"
            f"queued jobs placed again (RQ job or device lost): {report['replaced'] or 'none'}\n"
            f"jobs placed now: {report['placed']}"
        )
