"""Create the demo organization and login (idempotent); `make up` runs it and prints the login."""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from llm_platform.models import Role
from llm_platform.services import add_member, create_organization

DEMO_USERNAME = "demo"


def demo_password() -> str:
    """A random password made once per installation and kept in var/ so reruns print the same login."""
    path = settings.VAR_DIR / "demo-login.json"
    if path.exists():
        return json.loads(path.read_text())["password"]
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"username": DEMO_USERNAME, "password": password}))
    path.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Create the demo organization (slug 'demo') and the demo user, and print the login."

    def handle(self, *args, **options):
        org, _ = create_organization("demo", "Demo Team")
        password = demo_password()
        add_member(org, DEMO_USERNAME, Role.OWNER)
        user = get_user_model().objects.get(username=DEMO_USERNAME)
        # The demo user is also an operator, so the admin (base models, GPUs, quotas) can be tried.
        user.is_staff = True
        user.is_superuser = True
        if not user.check_password(password):
            user.set_password(password)
        user.save()
        for hook in _extra_setup_hooks():
            hook(org, self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"Demo login: {DEMO_USERNAME} / {password}  (organization: {org.slug})")
        )


def _extra_setup_hooks():
    """Apps that add demo content (a tiny base model, sample datasets) expose ``demo_setup(org, out)``."""
    from django.apps import apps
    from django.utils.module_loading import import_string

    hooks = []
    for config in apps.get_app_configs():
        try:
            hooks.append(import_string(f"{config.name}.demo.demo_setup"))
        except ImportError:
            continue
    return hooks
