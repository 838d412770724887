"""Create the demo organization and login (idempotent); `make up` runs it and prints the login."""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from llm_platform.models import Role
from llm_platform.services import add_member, create_organization

DEMO_USERNAME = "demo"
OPERATOR_USERNAME = "operator"


def _saved_password(username: str) -> str:
    """A random password made once per installation and kept in var/ so reruns print the same login."""
    path = settings.VAR_DIR / f"{username}-login.json"
    if path.exists():
        return json.loads(path.read_text())["password"]
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"username": username, "password": password}))
    path.chmod(0o600)
    return password


def demo_password() -> str:
    return _saved_password(DEMO_USERNAME)


def _ensure_user(username: str, *, operator: bool):
    user, _ = get_user_model().objects.get_or_create(username=username)
    password = _saved_password(username)
    # Members use the portal; only the operator account reaches /admin/ (base models, GPUs, quotas).
    user.is_staff = user.is_superuser = operator
    if not user.check_password(password):
        user.set_password(password)
    user.save()
    return user, password


class Command(BaseCommand):
    help = "Create the demo organization (slug 'demo') and the demo user, and print the login."

    def handle(self, *args, **options):
        org, _ = create_organization("demo", "Demo Team")
        add_member(org, DEMO_USERNAME, Role.OWNER)
        _user, password = _ensure_user(DEMO_USERNAME, operator=False)
        _operator, operator_password = _ensure_user(OPERATOR_USERNAME, operator=True)
        for hook in _extra_setup_hooks():
            hook(org, self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"Demo login: {DEMO_USERNAME} / {password}  (organization: {org.slug})")
        )
        self.stdout.write(
            self.style.SUCCESS(f"Operator login for /admin/: {OPERATOR_USERNAME} / {operator_password}")
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
