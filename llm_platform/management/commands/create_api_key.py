from django.core.management.base import BaseCommand, CommandError

from llm_platform.models import ApiKey, Organization, Role


class Command(BaseCommand):
    help = "Create an API key for an organization. The key is printed alone on the last line, once."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--read-only", action="store_true", help="A key that can only read")

    def handle(self, *args, org, name, read_only, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}.")
        api_key, raw_key = ApiKey.issue(
            organization, name=name, role=Role.VIEWER if read_only else Role.MEMBER
        )
        self.stdout.write(f"created key {api_key.prefix}… for {organization.slug}; it is not shown again:")
        self.stdout.write(raw_key)
