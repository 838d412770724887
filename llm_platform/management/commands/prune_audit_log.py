"""Remove audit entries older than the retention (``AUDIT_RETENTION_DAYS``), e.g. from a daily cron."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from llm_platform.models import AuditEntry


class Command(BaseCommand):
    help = "Delete audit log entries older than AUDIT_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Keep this many days instead.")

    def handle(self, *args, days: int | None = None, **options):
        days = settings.AUDIT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1.")
        removed = AuditEntry.objects.prune(timezone.now() - timedelta(days=days))
        self.stdout.write(f"Removed {removed} audit entries older than {days} days.")
