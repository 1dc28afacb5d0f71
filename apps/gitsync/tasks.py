"""Sync tasks: thin and idempotent. Arguments are ids; the service does the work and records the run."""

from celery import shared_task
from django.conf import settings

from .exceptions import TransientSyncError


@shared_task(
    acks_late=True,
    autoretry_for=(TransientSyncError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=settings.GITSYNC_LEASE_SECONDS - 60,
    time_limit=settings.GITSYNC_LEASE_SECONDS - 30,
)
def sync_repository_task(repository_id: int, trigger: str = "schedule", requested_by: str = "") -> int | None:
    """Sync one repository; returns the SyncRun id, or None when the repository is gone or already syncing."""
    from .sync import sync_repository

    run = sync_repository(repository_id, trigger=trigger, requested_by=requested_by)
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
