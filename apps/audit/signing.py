"""The portal's Ed25519 signing key: signs export manifests and chain checkpoints.

The private key comes from AUDIT_SIGNING_KEY (PEM text) or AUDIT_SIGNING_KEY_FILE (a
PEM file; `manage.py audit_keygen` writes one). With DEBUG on and neither set, a
development key is created under var/ on first use. Auditors get the public key
from /audit/public-key and verify offline with clients/verify_audit.py.
"""

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import hashing


def generate_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(generate_pem())


def _load_pem() -> bytes:
    if settings.AUDIT_SIGNING_KEY:
        return settings.AUDIT_SIGNING_KEY.encode()
    path = Path(settings.AUDIT_SIGNING_KEY_FILE) if settings.AUDIT_SIGNING_KEY_FILE else None
    if path is None and settings.DEBUG:
        path = settings.VAR_DIR / "audit-signing-key.pem"
        if not path.exists():
            write_key_file(path)
    if path is None:
        raise ImproperlyConfigured(
            "Set AUDIT_SIGNING_KEY_FILE (create one with `python manage.py audit_keygen`) or AUDIT_SIGNING_KEY."
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImproperlyConfigured(f"Cannot read the audit signing key {path}: {error.strerror}.") from None


@lru_cache(maxsize=1)
def private_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(_load_pem(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("The audit signing key must be an Ed25519 private key.")
    return key


def _public_pem(key: Ed25519PrivateKey) -> str:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def public_key_pem() -> str:
    return _public_pem(private_key())


def public_key_pem_of_file(path: Path) -> str:
    """The public half of the Ed25519 private key in the PEM file at `path` (e.g. one write_key_file made)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} does not hold an Ed25519 private key.")
    return _public_pem(key)


def key_id() -> str:
    """A short fingerprint of the public key, so a reader can tell which key signed."""
    raw = private_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def sign(payload: dict) -> str:
    """Base64 Ed25519 signature over the canonical JSON of `payload` (the same encoding events are hashed in)."""
    return base64.b64encode(private_key().sign(hashing.canonical_bytes(payload))).decode()


def verify(payload: dict, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        private_key().public_key().verify(base64.b64decode(signature, validate=True), hashing.canonical_bytes(payload))
    except (InvalidSignature, ValueError):
        return False
    return True
