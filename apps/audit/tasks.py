"""Audit background work: the hourly signed checkpoints. Exports run in apps/compliance/tasks.py."""

from celery import shared_task


@shared_task(acks_late=True, time_limit=300)
def checkpoint_sign_task() -> int | None:
    """Sign the chain head (beat: every AUDIT_CHECKPOINT_SECONDS); a no-op when it has not moved."""
    from .checkpoints import checkpoint_sign

    checkpoint = checkpoint_sign()
    return checkpoint.sequence if checkpoint else None
