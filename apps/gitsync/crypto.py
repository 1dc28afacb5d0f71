"""Secrets the portal must read back (webhook secrets: GitHub's HMAC needs the plain value), encrypted at rest.

Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY with HKDF, so the database alone does not
reveal them. Rotating SECRET_KEY makes old ones unreadable: rotate the repositories' webhook secrets then.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"govportal webhook secret").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str | None:
    """The plain text, or None when the token was made under another SECRET_KEY or was altered."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
