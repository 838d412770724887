"""Teams run themselves: invitations, roles, removal and ownership, each recorded in the audit log.

Owners and admins manage members. An admin manages members and viewers and may invite admins; only the
owner changes or removes admins and hands ownership on. Nobody becomes an owner but by a transfer, so an
organization always has exactly the owner it had.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from llm_platform.audit import changes, record
from llm_platform.errors import Conflict, DomainError, NotFound
from llm_platform.models import Invitation, Membership, Organization, Role, role_at_least

ASSIGNABLE = (Role.ADMIN, Role.MEMBER, Role.VIEWER)
ASSIGNABLE_CHOICES = [(role.value, role.label) for role in ASSIGNABLE]


class Forbidden(DomainError):
    status = 403
    code = "permission_denied"


def _check_manager(by: Membership, role: str | None = None, target: Membership | None = None) -> None:
    """``by`` may manage ``target`` (and give ``role``): admin or owner, and above whom it manages."""
    if not role_at_least(by.role, Role.ADMIN):
        raise Forbidden("Only the organization's owner and admins manage members.")
    if role is not None and role not in ASSIGNABLE:
        raise DomainError(
            f"Role {role!r} cannot be given here; ownership is transferred.",
            fields={"role": "choose admin, member or viewer"},
        )
    if target is not None and target.role == Role.OWNER:
        raise Forbidden("The owner's membership changes only by transferring ownership.")
    if by.role != Role.OWNER and target is not None and target.role == Role.ADMIN and target != by:
        raise Forbidden("Only the owner changes or removes admins.")


def emails_enabled() -> bool:
    """An email backend is configured (the default, the dummy backend, means none is)."""
    return settings.EMAIL_BACKEND != "django.core.mail.backends.dummy.EmailBackend"


def invitation_lifetime() -> timedelta:
    return timedelta(hours=settings.INVITATION_TTL_HOURS)


def invite(
    by: Membership, *, email: str = "", role: str = Role.MEMBER, accept_url=None
) -> tuple[Invitation, str]:
    """A one-time invitation; returns ``(invitation, raw_token)``. ``accept_url(token)`` makes the link
    that is emailed (after commit) when ``email`` is given and an email backend is configured."""
    _check_manager(by, role)
    raw_token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=by.organization,
        email=email,
        role=role,
        token_hash=Invitation.hash_token(raw_token),
        created_by=by.user,
        expires_at=timezone.now() + invitation_lifetime(),
    )
    record(
        by.organization,
        "invitation.create",
        invitation,
        summary=f"role {role}" + (f", for {email}" if email else ""),
    )
    if email and accept_url is not None and emails_enabled():
        link = accept_url(raw_token)
        transaction.on_commit(lambda: _send(invitation, link))
    return invitation, raw_token


def _send(invitation: Invitation, link: str) -> None:
    send_mail(
        f"You are invited to {invitation.organization.name} on Tuneforge",
        f"Open this link to join as {invitation.role} (valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{link}\n",
        None,
        [invitation.email],
    )


def open_invitation(raw_token: str) -> Invitation:
    """The open invitation for ``raw_token``; unknown, used, revoked and expired ones are not found."""
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(token_hash=Invitation.hash_token(raw_token or ""))
        .first()
    )
    if invitation is None or invitation.state != "open":
        raise NotFound("This invitation link is not valid: it was used, revoked, or has expired.")
    return invitation


@transaction.atomic
def accept(raw_token: str, user) -> Membership:
    invitation = open_invitation(raw_token)
    org = invitation.organization
    if Membership.objects.filter(user=user, organization=org).exists():
        raise Conflict(f"You are already a member of {org.name}.")
    # Claim with a conditional UPDATE: of two people opening the same link at once, one joins.
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(accepted_at=timezone.now(), accepted_by=user)
    if not claimed:
        raise NotFound("This invitation link is not valid: it was used, revoked, or has expired.")
    try:
        membership = Membership.objects.create(user=user, organization=org, role=invitation.role)
    except IntegrityError:
        raise Conflict(f"You are already a member of {org.name}.") from None
    record(
        org, "member.join", membership, summary=f"accepted invitation {invitation.pk} as {invitation.role}"
    )
    return membership


def revoke_invitation(by: Membership, invitation: Invitation) -> None:
    _check_manager(by)
    if Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    ):
        record(by.organization, "invitation.revoke", invitation)


def change_role(by: Membership, target: Membership, role: str) -> Membership:
    _check_manager(by, role, target)
    if target == by:
        raise Forbidden("You cannot change your own role.")
    if role == Role.ADMIN and by.role != Role.OWNER:
        raise Forbidden("Only the owner makes admins.")
    before = target.role
    Membership.objects.filter(pk=target.pk).update(role=role)
    target.role = role
    record(by.organization, "member.role", target, summary=changes({"role": before}, {"role": role}))
    return target


def remove_member(by: Membership, target: Membership) -> None:
    """Remove ``target`` (anyone but the owner may also leave). Their open sockets close (signals)."""
    if target != by:
        _check_manager(by, target=target)
    elif target.role == Role.OWNER:
        raise Forbidden("The owner cannot leave; transfer ownership first.")
    target.delete()
    record(by.organization, "member.remove", target, summary=f"{target.user.get_username()} ({target.role})")


@transaction.atomic
def transfer_ownership(by: Membership, target: Membership) -> Membership:
    """``target`` becomes the owner; the previous owner stays on as an admin."""
    if by.role != Role.OWNER:
        raise Forbidden("Only the owner transfers ownership.")
    if target == by:
        raise DomainError("You already own this organization.", fields={"member": "choose another member"})
    Membership.objects.filter(pk=by.pk).update(role=Role.ADMIN)
    Membership.objects.filter(pk=target.pk).update(role=Role.OWNER)
    by.role, target.role = Role.ADMIN, Role.OWNER
    record(
        by.organization,
        "organization.transfer",
        target,
        summary=f"owner: {by.user.get_username()} -> {target.user.get_username()}",
    )
    return target


@transaction.atomic
def create_organization_for(owner, slug: str, name: str = "") -> Organization:
    """A new organization with ``owner`` (staff from the portal, or a self-service sign-up)."""
    if Organization.objects.filter(slug=slug).exists():
        raise DomainError(f"The slug {slug!r} is taken.", fields={"slug": "already taken"})
    org = Organization(slug=slug, name=name or slug.replace("-", " ").title())
    org.full_clean()
    org.save()
    membership = Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    record(org, "organization.create", org, summary=f"owner {owner.get_username()}")
    return membership.organization
