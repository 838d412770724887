"""``manage.py reconcile``: repair leases and queues from the database once, and say what was done.

Workers do this at start and at every heartbeat; operators run it after restoring Redis, or from cron
when no worker is up (devices of dead workers then still go offline and their leases are freed).
``--if-due`` runs only when no one in the fleet reconciled this period, and speaks only when it repaired
something: ``manage.py up`` calls it every heartbeat, so a dead worker's job is requeued even while no
worker is alive.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from gpu_workers.reconcile import reconcile, reconcile_if_due


class Command(BaseCommand):
    help = (
        "Mark dead devices offline, requeue jobs of lost workers, release stale leases, re-enqueue lost jobs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-due",
            action="store_true",
            help="Only if no worker reconciled in this period; print only what was repaired.",
        )

    def handle(self, *args, if_due: bool, **options):
        report = reconcile_if_due() if if_due else reconcile()
        if if_due and not (report and any(report.values())):
            return
        self.stdout.write(
            f"devices marked offline: {report['offline']}\n"
            f"running jobs requeued or failed (worker lost): {report['recovered'] or 'none'}\n"
            f"stale leases released: {report['released']}\n"
            f"queued jobs placed again (RQ job or device lost): {report['replaced'] or 'none'}\n"
            f"stalled datasets queued again: {report['datasets'] or 'none'}\n"
            f"jobs placed now: {report['placed']}"
        )
