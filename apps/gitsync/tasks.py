"""Sync tasks: thin and idempotent. Arguments are ids; the service does the work and records the run."""

import random

from celery import shared_task
from django.conf import settings

from .exceptions import TransientSyncError


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=5,
    soft_time_limit=settings.GITSYNC_LEASE_SECONDS - 60,
    time_limit=settings.GITSYNC_LEASE_SECONDS - 30,
)
def sync_repository_task(self, repository_id: int, trigger: str = "schedule", requested_by: str = "") -> int | None:
    """Sync one repository; returns the SyncRun id, or None when the repository is gone or already syncing.

    A transient failure (network, remote busy) is retried with exponential backoff and jitter. In-process
    (no broker: development) it is not, nor after the last retry: the failed run is on record and the next sync
    tries again. Nothing else leaves the task: sync_repository records any other failure on the run.
    """
    from apps.core import request_context

    from .sync import sync_repository

    try:
        with request_context.bind(source="task"):
            run = sync_repository(repository_id, trigger=trigger, requested_by=requested_by)
    except TransientSyncError as exc:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return None  # the failed run is on record; the next scheduled sync tries again
        delay = min(900, 30 * 2**self.request.retries)
        jitter = random.randint(0, delay // 4)  # noqa: S311 — spreading retries, not a secret
        raise self.retry(exc=exc, countdown=delay + jitter) from exc
    return run.pk if run else None


@shared_task(acks_late=True)
def sync_enabled_repositories_task() -> int:
    """The beat entry point: queue one sync per enabled repository (coalesced with any already queued)."""
    from .models import GitRepository
    from .services import claim_queue_slot

    queued = 0
    for pk in GitRepository.objects.filter(enabled=True).values_list("pk", flat=True):
        if claim_queue_slot(pk):
            sync_repository_task.delay(pk, "schedule", "beat")
            queued += 1
    return queued
