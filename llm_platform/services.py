"""Set-up operations shared by the management commands, the admin and the demo bootstrap."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from llm_platform.audit import record
from llm_platform.models import ApiKey, Membership, Organization, Role


def create_organization(slug: str, name: str = "") -> tuple[Organization, bool]:
    org = Organization(slug=slug, name=name or slug.replace("-", " ").title())
    existing = Organization.objects.filter(slug=slug).first()
    if existing:
        return existing, False
    org.full_clean()
    org.save()
    return org, True


@transaction.atomic
def add_member(org: Organization, username: str, role: str, password: str | None = None):
    """Add ``username`` to ``org`` with ``role``, creating the user when needed.

    Returns ``(membership, user_created)``. An existing membership gets the new role.
    """
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    membership, _ = Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
    record(org, "member.add", membership, summary=f"role {role}")
    return membership, created


def issue_api_key(org: Organization, *, name: str, role: str, scopes, created_by) -> tuple[ApiKey, str]:
    api_key, raw_key = ApiKey.issue(org, name=name, role=role, scopes=scopes, created_by=created_by)
    record(org, "api_key.create", api_key, summary=f"role {api_key.role}, scopes {api_key.scopes}")
    return api_key, raw_key


def revoke_api_key(api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoke()
        record(api_key.organization, "api_key.revoke", api_key)
