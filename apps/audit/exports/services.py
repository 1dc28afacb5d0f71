"""Exports of the audit trail: started with a permission check, finished with a signed manifest and an
`audit.exported` event (who, filters, format, row count, file SHA-256)."""

import uuid
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts import permissions

from ..actions import Action
from ..actors import Actor
from ..models import AuditExport, ExportFormat, ExportStatus
from ..selectors import audit_event_list
from ..services import record
from . import writer
from .filters import AuditFilters

STREAMABLE = (ExportFormat.CSV, ExportFormat.JSONL)
# Dossiers describe one model and are written at once by the app that owns them: no event count, no progress.
DOSSIERS = (ExportFormat.DOSSIER_PDF, ExportFormat.DOSSIER_JSON)
EXTENSIONS = {ExportFormat.CSV: "csv", ExportFormat.JSONL: "jsonl", ExportFormat.PDF: "pdf",
              ExportFormat.DOSSIER_PDF: "pdf", ExportFormat.DOSSIER_JSON: "json"}  # fmt: skip
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8",
                 "pdf": "application/pdf", "json": "application/json"}  # fmt: skip


def export_events(*, user, filters: AuditFilters):
    """The events an export of `filters` by `user` contains (the same scope as the audit page)."""
    return audit_event_list(user=user, **filters.selector_kwargs())


def export_start(*, actor: Actor, format: str, filters: AuditFilters, extra: dict | None = None) -> AuditExport:
    """Open an export: auditors and admins only. Nothing is audited until the export finishes.

    Trail exports (CSV, JSON Lines, PDF) count their events for progress; dossiers do not.
    """
    if actor.user is None or not permissions.may_export_audit(actor.user):
        raise PermissionDenied("Only auditors and team admins can export the audit trail.")
    if format not in ExportFormat.values:
        raise ValueError(f"unknown export format {format!r}")
    total = 0 if format in DOSSIERS else export_events(user=actor.user, filters=filters).count()
    return AuditExport.objects.create(
        id=uuid.uuid4(), requested_by=actor.user, format=format, filters=filters.as_dict() | (extra or {}),
        total=total, status=ExportStatus.RUNNING, streamed=format in STREAMABLE
        and total <= settings.AUDIT_EXPORT_STREAM_LIMIT,
    )  # fmt: skip


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
