"""Audit background work: large exports and PDFs, expiring export files, hourly signed checkpoints."""

import logging

from celery import shared_task

from .models import AuditExport, ExportFormat, ExportStatus

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, time_limit=3600)
def export_run_task(export_id: str) -> str:
    """Write one export to a file. Idempotent: an export that is no longer running is left alone."""
    from .exports import services

    export = AuditExport.objects.select_related("requested_by").filter(pk=export_id).first()
    if export is None or export.status != ExportStatus.RUNNING:
        return "skipped"
    try:
        if export.format in (ExportFormat.CSV, ExportFormat.JSONL):
            services.export_to_file(export)
        elif export.format == ExportFormat.PDF:
            from .reports.compliance import export_compliance_pdf

            export_compliance_pdf(export)
        else:
            raise ValueError(f"{export.format} exports are run by the app that owns them")
    except Exception as error:
        # The export's page shows the failure; re-raising would only turn an in-process (eager) run into a 500.
        logger.exception("audit export %s failed", export_id)
        services.export_fail(export=export, error=str(error) if isinstance(error, ValueError) else
                             f"{type(error).__name__}: {error}")  # fmt: skip
        return "failed"
    return "done"


@shared_task(acks_late=True)
def exports_expire_task() -> int:
    from .exports.services import exports_expire

    return exports_expire()


@shared_task(acks_late=True, time_limit=300)
def checkpoint_sign_task() -> int | None:
    """Sign the chain head (beat: every AUDIT_CHECKPOINT_SECONDS); a no-op when it has not moved."""
    from .checkpoints import checkpoint_sign

    checkpoint = checkpoint_sign()
    return checkpoint.sequence if checkpoint else None
