"""Exports of the audit trail: who asked for what, its progress, and the signed manifest of what they got."""

from django.conf import settings
from django.db import models

from apps.accounts import permissions


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"
    PDF = "pdf", "PDF compliance report"
    DOSSIER_PDF = "dossier-pdf", "Model dossier (PDF)"
    DOSSIER_JSON = "dossier-json", "Model dossier (JSON)"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"
    EXPIRED = "expired", "Expired"


class AuditExport(models.Model):
    """One export of the audit trail: who asked, for what, and the signed manifest of what they got."""

    id = models.UUIDField(primary_key=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=15, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    streamed = models.BooleanField(default=False)
    total = models.BigIntegerField(default=0, help_text="Events expected (for progress).")
    row_count = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    signature = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    # The record has named exports `audit.auditexport` since before this app existed: keep one name for them.
    audit_target_type = "audit.auditexport"

    class Meta:
        # Moved from the audit app without moving its rows (migrations 0001 here and audit 0006).
        db_table = "audit_auditexport"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_format_display()} export {self.pk}"

    def audit_scope(self) -> dict:
        # `audit.exported` is the exported team's business, not every auditor's (accounts.permissions decides which).
        team = permissions.audit_export_team(self.requested_by, self.filters)
        return {"team": team} if team else {}

    @property
    def manifest_file_name(self) -> str:
        """The detached manifest's download name: beside the file, where clients/verify_audit.py looks for it."""
        return f"{self.file_name}.manifest.json"

    @property
    def progress_percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return min(99, int(100 * self.row_count / self.total)) if self.total else 0
