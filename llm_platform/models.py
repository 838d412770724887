"""Tenancy: organizations, their members and their API keys."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from llm_platform.db import best_effort
from llm_platform.errors import DomainError

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
)


class Organization(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    max_running_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs of this organization that may run at once (blank: no limit)."
    )
    max_gpus = models.PositiveIntegerField(
        null=True, blank=True, help_text="GPUs this organization may hold at once (blank: no limit)."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher ranks may do everything lower ranks may.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization__slug", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_write(self) -> bool:
        return role_at_least(self.role, Role.MEMBER)


KEY_PREFIX = "tf"


class Scope(models.TextChoices):
    """What an API key may do; the key's role caps it (a read-only key never writes or infers)."""

    READ = "read", "Read (GET on the APIs)"
    WRITE = "write", "Write (create, change, delete)"
    INFERENCE = "inference", "Inference (the /v1 gateway)"


ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    Role.MEMBER: (Scope.READ, Scope.WRITE, Scope.INFERENCE),
    Role.VIEWER: (Scope.READ,),
}


def scopes_text(scopes) -> str:
    """The stored form: known scopes, comma-separated, in Scope's order (one column the gateway's single
    SQL statement reads as it is)."""
    wanted = set(scopes)
    return ",".join(scope.value for scope in Scope if scope in wanted)


def scope_granted(role: str, scopes: str, scope: str) -> bool:
    """Whether a key of ``role`` with stored ``scopes`` may use ``scope``: chosen and allowed by its role."""
    return scope in scopes.split(",") and scope in ROLE_SCOPES.get(role, ())


def _hash_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a plain SHA-256 is enough (no slow KDF needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key that acts for one organization. The secret is shown once and stored hashed."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="The visible start of the key.")
    key_hash = models.CharField(max_length=64)
    role = models.CharField(
        max_length=10,
        choices=[(Role.MEMBER.value, "Read and write"), (Role.VIEWER.value, "Read only")],
        default=Role.MEMBER,
    )
    scopes = models.CharField(
        max_length=50,
        default=scopes_text(ROLE_SCOPES[Role.MEMBER]),
        help_text="Comma-separated: read, write, inference; chosen at creation, within what the role allows.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()
    LAST_USED_EVERY = 60  # seconds: how often a key's last-used time is written at most

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @classmethod
    def issue(
        cls,
        organization: Organization,
        *,
        name: str = "",
        role: str = Role.MEMBER,
        scopes=None,
        created_by=None,
    ):
        """Create a key and return ``(api_key, raw_key)``; the raw key is never stored. ``scopes`` default
        to all the role allows; asking for more, or for none, is a DomainError naming ``scopes``."""
        scopes = cls.check_scopes(role, scopes)
        prefix = f"{KEY_PREFIX}_{secrets.token_hex(4)}"
        raw_key = f"{prefix}_{secrets.token_urlsafe(32)}"
        api_key = cls.objects.create(
            organization=organization,
            name=name,
            prefix=prefix,
            key_hash=_hash_key(raw_key),
            role=role,
            scopes=scopes,
            created_by=created_by,
        )
        return api_key, raw_key

    @staticmethod
    def check_scopes(role: str, scopes) -> str:
        """The stored form of ``scopes`` for a key of ``role`` (None: all the role allows)."""
        allowed = ROLE_SCOPES.get(role)
        if allowed is None:
            raise DomainError("Unknown role.", fields={"role": "must be member or viewer"})
        if scopes is None:
            return scopes_text(allowed)
        wanted = list(scopes)
        unknown = [s for s in wanted if s not in Scope.values]
        if unknown:
            raise DomainError(
                f"Unknown scope {unknown[0]!r}.", fields={"scopes": "choose from read, write, inference"}
            )
        beyond = [s for s in wanted if s not in allowed]
        if beyond:
            raise DomainError(
                f"A {role} key cannot have the {beyond[0]!r} scope.",
                fields={"scopes": f"a {role} key may have: {', '.join(allowed)}"},
            )
        if not wanted:
            raise DomainError("Choose at least one scope.", fields={"scopes": "choose at least one"})
        return scopes_text(wanted)

    def allows(self, scope: str) -> bool:
        return scope_granted(self.role, self.scopes, scope)

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in self.scopes.split(",") if self.allows(scope)]

    @staticmethod
    def prefix_of(raw_key: str) -> str | None:
        """The stored, visible prefix of a key as presented (``tf_<hex>`` of ``tf_<hex>_<secret>``)."""
        parts = raw_key.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        return f"{parts[0]}_{parts[1]}"

    @staticmethod
    def hash_matches(raw_key: str, key_hash: str) -> bool:
        return secrets.compare_digest(key_hash, _hash_key(raw_key))

    @classmethod
    def authenticate(cls, raw_key: str) -> ApiKey | None:
        """The active key matching ``raw_key``, with its last-used time updated, or None."""
        prefix = cls.prefix_of(raw_key)
        if prefix is None:
            return None
        key = cls.objects.active().select_related("organization").filter(prefix=prefix).first()
        if key is None or not cls.hash_matches(raw_key, key.key_hash):
            return None
        now = timezone.now()
        # Write at most once a minute so a busy integration does not turn every request into a write.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > cls.LAST_USED_EVERY:
            cls.touch(key.pk, now)
            key.last_used_at = now
        return key

    @classmethod
    def touch(cls, pk: int, when=None) -> None:
        """Record that the key was used. Only informative: a locked or unreachable database skips it
        (logged) after a fraction of a second, never failing or stalling the request."""
        when = when or timezone.now()
        best_effort(
            lambda: cls.objects.filter(pk=pk).update(last_used_at=when), what=f"the last use of API key {pk}"
        )

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
