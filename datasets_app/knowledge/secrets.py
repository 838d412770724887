"""Endpoint keys at rest: encrypted with Fernet under a key derived from SECRETS_ENCRYPTION_KEY (or SECRET_KEY).

Rotating SECRET_KEY without setting SECRETS_ENCRYPTION_KEY to the old value makes stored keys unreadable; the
admin then sets the endpoint's key again (it is never shown, so it cannot be copied out beforehand).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from llm_platform.errors import DomainError


def _fernet() -> Fernet:
    secret = settings.SECRETS_ENCRYPTION_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(f"tuneforge-kb-endpoint-key:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(raw: str) -> str:
    return _fernet().encrypt(raw.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise DomainError(
            "The endpoint's key cannot be decrypted (the server's secret changed); an admin must set it again.",
            code="endpoint_key_unreadable",
        ) from None
