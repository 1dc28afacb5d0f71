"""Export work: large exports and PDFs, and expiring export files.

The tasks keep the names they had in the audit app: beat entries, queued messages and results name them so.
"""

from celery import shared_task

from .exports import services


@shared_task(name="apps.audit.tasks.export_run_task", acks_late=True, time_limit=3600)
def export_run_task(export_id: str) -> str:
    """Write one export to a file. Idempotent: an export that is no longer running is left alone."""
    return services.export_run(export_id)


@shared_task(name="apps.audit.tasks.exports_expire_task", acks_late=True)
def exports_expire_task() -> int:
    return services.exports_expire()
