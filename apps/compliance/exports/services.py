"""Exports of the audit trail: started with a permission check, finished with a signed manifest and an
`audit.exported` event (who, filters, format, row count, file SHA-256)."""

import logging
import uuid
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts import permissions
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.selectors import audit_event_list
from apps.audit.services import record
from apps.core.exceptions import DomainError

from ..models import AuditExport, ExportFormat, ExportStatus
from . import writer
from .filters import AuditFilters

logger = logging.getLogger(__name__)

STREAMABLE = (ExportFormat.CSV, ExportFormat.JSONL)
# Dossiers describe one model and are written at once by dossier.model_dossier_export: no event count, no progress.
DOSSIERS = (ExportFormat.DOSSIER_PDF, ExportFormat.DOSSIER_JSON)
EXTENSIONS = {ExportFormat.CSV: "csv", ExportFormat.JSONL: "jsonl", ExportFormat.PDF: "pdf",
              ExportFormat.DOSSIER_PDF: "pdf", ExportFormat.DOSSIER_JSON: "json"}  # fmt: skip
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8",
                 "pdf": "application/pdf", "json": "application/json"}  # fmt: skip


def export_events(*, user, filters: AuditFilters):
    """The events an export of `filters` by `user` contains (the same scope as the audit page)."""
    return audit_event_list(user=user, **filters.selector_kwargs())


class ExportTooLarge(DomainError):
    status = 400
    code = "too_many_events"


def export_list(*, user):
    """The exports `user` may see: their own; portal admins see everyone's."""
    exports = AuditExport.objects.select_related("requested_by")
    return exports if permissions.is_portal_admin(user) else exports.filter(requested_by=user)


def _refuse_oversized_pdf(count: int) -> None:
    from ..reports import compliance  # the PDF writer's own limit; it imports this module

    if count > compliance.MAX_EVENTS:
        raise ExportTooLarge(f"{count:,} events are too many for a PDF report (at most {compliance.MAX_EVENTS:,}): "
                             "narrow the filters, or export CSV or JSON Lines.")  # fmt: skip


def export_start(
    *, actor: Actor, format: str, filters: AuditFilters, stream: bool = True, extra: dict | None = None
) -> AuditExport:
    """Open an export and set it going: auditors and admins only. Nothing is audited until the export finishes.

    The one way in for the page, the API and dossiers. Trail exports (CSV, JSON Lines, PDF) count their events for
    progress, and a PDF of more than the report's MAX_EVENTS is refused (ExportTooLarge) before anything is written.
    A CSV or JSON Lines export of at most AUDIT_EXPORT_STREAM_LIMIT events is small: with `stream` (the page) it is
    `streamed` and the caller sends export_stream(); without (the API, which answers with a status, not the bytes)
    it is written to its file now. Larger ones and PDFs are written by a worker once the transaction commits.
    A dossier is written by its caller (dossier.model_dossier_export).
    """
    if actor.user is None or not permissions.may_export_audit(actor.user):
        raise PermissionDenied("Only auditors and team admins can export the audit trail.")
    if format not in ExportFormat.values:
        raise ValueError(f"unknown export format {format!r}")
    total = 0 if format in DOSSIERS else export_events(user=actor.user, filters=filters).count()
    if format == ExportFormat.PDF:
        _refuse_oversized_pdf(total)
    small = format in STREAMABLE and total <= settings.AUDIT_EXPORT_STREAM_LIMIT
    export = AuditExport.objects.create(
        id=uuid.uuid4(), requested_by=actor.user, format=format, filters=filters.as_dict() | (extra or {}),
        total=total, status=ExportStatus.RUNNING, streamed=small and stream,
    )  # fmt: skip
    if format in DOSSIERS or export.streamed:
        return export
    if small:
        export_run(str(export.pk))
        export.refresh_from_db()
    else:
        from ..tasks import export_run_task  # the task calls export_run() here

        export_run_task.delay_on_commit(str(export.pk))
    return export


def export_run(export_id: str) -> str:
    """Write one export to its file. Idempotent: an export that is no longer running is left alone.

    A failure is stored on the export (its page shows it), not raised: in-process, a raise would only be a 500.
    """
    export = AuditExport.objects.select_related("requested_by").filter(pk=export_id).first()
    if export is None or export.status != ExportStatus.RUNNING:
        return "skipped"
    try:
        if export.format in STREAMABLE:
            export_to_file(export)
        elif export.format == ExportFormat.PDF:
            from ..reports.compliance import export_compliance_pdf  # it imports this module

            export_compliance_pdf(export)
        else:
            raise ValueError(f"{export.format} exports are written when they start, not by a worker")
    except Exception as error:
        logger.exception("audit export %s failed", export_id)
        export_fail(export=export, error=str(error) if isinstance(error, ValueError) else
                    f"{type(error).__name__}: {error}")  # fmt: skip
        return "failed"
    return "done"


def file_name(export: AuditExport) -> str:
    stamp = export.created_at.strftime("%Y%m%dT%H%M%SZ")
    kind = "dossier" if export.format in DOSSIERS else "audit"
    return f"govportal-{kind}-{stamp}-{str(export.pk)[:8]}.{EXTENSIONS[export.format]}"


def file_path(export: AuditExport) -> Path:
    return Path(settings.AUDIT_EXPORT_DIR) / f"{export.pk}.{EXTENSIONS[export.format]}"


@transaction.atomic
def export_finish(
    *, export: AuditExport, tally: writer.Tally, manifest: dict, signature: str, complete: bool = True
) -> AuditExport:
    """Store the manifest and record `audit.exported` in one transaction."""
    now = timezone.now()
    export.status = ExportStatus.DONE if complete else ExportStatus.ABORTED
    export.row_count = tally.count
    export.file_sha256 = tally.sha256.hexdigest()
    export.manifest, export.signature = manifest, signature
    export.file_name = file_name(export)
    export.finished_at = now
    export.expires_at = now + timedelta(hours=settings.AUDIT_EXPORT_TTL_HOURS)
    export.save()
    record(action=Action.AUDIT_EXPORTED, actor=Actor.of(export.requested_by), target=export, changes={
        "format": [None, export.format], "filters": [None, export.filters], "row_count": [None, tally.count],
        "file_sha256": [None, export.file_sha256], "delivery": [None, "streamed" if export.streamed else "file"],
        "complete": [None, complete],
    })  # fmt: skip
    return export


def export_fail(*, export: AuditExport, error: str) -> None:
    AuditExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def _chunks(export: AuditExport, tally: writer.Tally):
    events = export_events(user=export.requested_by, filters=filters_of(export))
    if export.format == ExportFormat.CSV:
        return writer.csv_chunks(events, tally)
    return writer.jsonl_chunks(events, tally)


def filters_of(export: AuditExport) -> AuditFilters:
    """The filters an export was started with, as AuditFilters (extras stored beside them are dropped)."""
    data = {key: value for key, value in export.filters.items() if key in AuditFilters.__dataclass_fields__}
    for key in ("date_from", "date_to"):
        if key in data:
            data[key] = date.fromisoformat(data[key])
    return AuditFilters(**data)


def export_stream(export: AuditExport):
    """Yield the export's bytes as they are produced; on completion store the manifest and audit it.

    A CSV's manifest is a sidecar (/audit/exports/<id>/manifest); JSON Lines end with it.
    If the reader goes away mid-stream, the partial export is still on record (complete: false).
    """
    tally = writer.Tally()
    try:
        yield from _chunks(export, tally)
    except GeneratorExit:
        manifest, signature = writer.build_manifest(export=export, tally=tally)
        export_finish(export=export, tally=tally, manifest=manifest, signature=signature, complete=False)
        raise
    manifest, signature = writer.build_manifest(export=export, tally=tally)
    export_finish(export=export, tally=tally, manifest=manifest, signature=signature)
    if export.format == ExportFormat.JSONL:
        yield writer.manifest_line(manifest, signature)


def export_to_file(export: AuditExport, *, progress_every: int = writer.CHUNK) -> AuditExport:
    """Write a large CSV/JSONL export to AUDIT_EXPORT_DIR, reporting progress; the Celery task calls this."""
    path = file_path(export)
    path.parent.mkdir(parents=True, exist_ok=True)
    tally = writer.Tally()
    partial = path.with_suffix(path.suffix + ".part")
    with open(partial, "wb") as handle:
        last_report = 0
        for chunk in _chunks(export, tally):
            handle.write(chunk)
            if tally.count - last_report >= progress_every:
                AuditExport.objects.filter(pk=export.pk).update(row_count=tally.count)
                last_report = tally.count
        manifest, signature = writer.build_manifest(export=export, tally=tally)
        if export.format == ExportFormat.JSONL:
            handle.write(writer.manifest_line(manifest, signature))
    partial.replace(path)
    return export_finish(export=export, tally=tally, manifest=manifest, signature=signature)


def exports_expire(now=None) -> int:
    """Delete export files past their expiry (the scheduler's job); the records and their events stay."""
    now = now or timezone.now()
    expired = 0
    for export in AuditExport.objects.filter(status=ExportStatus.DONE, expires_at__lte=now):
        file_path(export).unlink(missing_ok=True)
        AuditExport.objects.filter(pk=export.pk).update(status=ExportStatus.EXPIRED)
        expired += 1
    return expired
