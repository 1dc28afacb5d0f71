"""One sync per repository at a time, and a lock that a crashed worker cannot keep (see apps.core.locks)."""

from django.conf import settings

from apps.core.locks import exclusive

ADVISORY_NAMESPACE = 0x67_73_79_6E  # "gsyn": keeps these keys apart from other advisory-lock users


def repository_lock(repository_id: int):
    """A context manager yielding True while holding the repository's sync lock, False when another sync holds it."""
    from .models import GitRepository

    return exclusive(
        GitRepository, repository_id, namespace=ADVISORY_NAMESPACE, lease_seconds=settings.GITSYNC_LEASE_SECONDS
    )
