from django.core.management.base import BaseCommand, CommandError

from llm_platform.errors import DomainError
from llm_platform.models import ApiKey, Organization, Role, Scope


class Command(BaseCommand):
    help = "Create an API key for an organization. The key is printed alone on the last line, once."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--read-only", action="store_true", help="A key that can only read")
        parser.add_argument(
            "--scopes",
            default=None,
            help=f"Comma-separated, of {', '.join(Scope.values)} (default: all the key's access allows)",
        )

    def handle(self, *args, org, name, read_only, scopes, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}.")
        wanted = None if scopes is None else [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            api_key, raw_key = ApiKey.issue(
                organization, name=name, role=Role.VIEWER if read_only else Role.MEMBER, scopes=wanted
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message} ({'; '.join((exc.fields or {}).values())})") from exc
        self.stdout.write(
            f"created key {api_key.prefix}… for {organization.slug} with scopes"
            f" {', '.join(api_key.scope_list)}; it is not shown again:"
        )
        self.stdout.write(raw_key)
