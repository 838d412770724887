from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from llm_platform.models import Organization, Role
from llm_platform.services import add_member


class Command(BaseCommand):
    help = "Add a user to an organization with a role, creating the user if needed."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.MEMBER)
        parser.add_argument("--password", help="Password for a newly created user (default: unusable)")

    def handle(self, *args, org_slug, username, role, password, **options):
        org = Organization.objects.filter(slug=org_slug).first()
        if org is None:
            raise CommandError(f"No organization with slug {org_slug!r}; create it with create_org first.")
        try:
            membership, created = add_member(org, username, role, password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        verb = "created user and added" if created else "added"
        self.stdout.write(f"{verb} {username} to {org.slug} as {membership.role}")
