"""One worker at a time per row (a repository's sync, a target's observation), with a lock a crash cannot keep.

PostgreSQL: a session advisory lock, which the server drops when the holder's connection ends (a killed worker
frees it at once). Elsewhere (SQLite, one machine): a lease on the row's `lease_until`, which expires after
`lease_seconds`, longer than the task's hard time limit.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone


@contextmanager
def exclusive(model_class, pk: int, *, namespace: int, lease_seconds: int):
    """Yield True while holding the row's lock, or False at once when another worker holds it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, pk])
            held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, pk])
        return
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    until = now + timedelta(seconds=lease_seconds)
    held = model_class.objects.filter(free, pk=pk).update(lease_until=until) == 1
    try:
        yield held
    finally:
        if held:
            model_class.objects.filter(pk=pk, lease_until=until).update(lease_until=None)
