"""Open websockets follow access: a membership removed, or a user deactivated, closes that user's sockets.

Sent after the transaction commits, so a rolled-back removal closes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from llm_platform.consumers import revoke_access
from llm_platform.models import Membership


@receiver(post_delete, sender=Membership, dispatch_uid="membership-removed-closes-sockets")
def membership_removed(sender, instance: Membership, **kwargs) -> None:
    user_id, org_id = instance.user_id, instance.organization_id
    transaction.on_commit(lambda: revoke_access(user_id, org_id))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="user-deactivated-closes-sockets")
def user_saved(sender, instance, created: bool, **kwargs) -> None:
    if created or instance.is_active:
        return
    org_ids = list(Membership.objects.filter(user=instance).values_list("organization_id", flat=True))
    user_id = instance.pk
    transaction.on_commit(lambda: [revoke_access(user_id, org_id) for org_id in org_ids])
