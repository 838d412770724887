from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from llm_platform.services import create_organization


class Command(BaseCommand):
    help = "Create an organization (tenant). Prints its slug; reuses an existing one."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="Display name (default: from the slug)")

    def handle(self, *args, slug, name, **options):
        try:
            org, created = create_organization(slug, name)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"{'created' if created else 'exists'}: {org.slug} ({org.name})")
