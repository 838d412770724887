"""Create or refresh the preset datasets shipped with the platform (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from datasets_app.ingest import FileError
from datasets_app.services import sync_presets


class Command(BaseCommand):
    help = "Ingest the presets under datasets_app/presets into preset datasets visible to every organization."

    def handle(self, *args, **options):
        try:
            outcomes = sync_presets()
        except FileError as exc:
            raise CommandError(f"a preset file was refused: {exc.message}") from exc
        for dataset, outcome in outcomes:
            self.stdout.write(f"{outcome}: {dataset.preset_slug} ({dataset.num_rows} rows)")
        if not outcomes:
            self.stdout.write("no presets found")
