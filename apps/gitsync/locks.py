"""One sync per repository at a time, and a lock that a crashed worker cannot keep.

PostgreSQL: a session advisory lock, which the server drops when the holder's connection ends (a killed
worker frees it at once). Elsewhere (SQLite, one machine): a lease on the repository row that expires after
GITSYNC_LEASE_SECONDS, longer than the task's hard time limit.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

ADVISORY_NAMESPACE = 0x67_73_79_6E  # "gsyn": keeps these keys apart from other advisory-lock users


@contextmanager
def repository_lock(repository_id: int):
    """Yield True while holding the repository's sync lock, or False at once when another sync holds it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, repository_id])
            held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_NAMESPACE, repository_id])
        return
    from .models import GitRepository

    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    until = now + timedelta(seconds=settings.GITSYNC_LEASE_SECONDS)
    held = GitRepository.objects.filter(free, pk=repository_id).update(lease_until=until) == 1
    try:
        yield held
    finally:
        if held:
            GitRepository.objects.filter(pk=repository_id, lease_until=until).update(lease_until=None)
