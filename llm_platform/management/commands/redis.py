from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from llm_platform import redis_embedded


class Command(BaseCommand):
    help = "Start, stop or check the embedded Redis (used when REDIS_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action, **options):
        if not settings.EMBEDDED_REDIS:
            if action == "status":
                self.stdout.write(f"external Redis configured: {settings.REDIS_URL}")
                return
            raise CommandError("REDIS_URL is set: the platform uses that Redis, not an embedded one.")
        if action == "start":
            started = redis_embedded.start()
            self.stdout.write(("started" if started else "already running") + f": {settings.REDIS_URL}")
        elif action == "stop":
            self.stdout.write("stopped" if redis_embedded.stop() else "not running")
        else:
            self.stdout.write("running" if redis_embedded.is_running() else "not running")
