"""Audit API shapes: events as recorded (with their hashes), export requests and export status."""

from datetime import UTC

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.audit.actors import ActorKind

from ..exports.services import DOSSIERS
from ..models import ExportFormat, ExportStatus

START_FORMATS = [choice for choice in ExportFormat.choices if choice[0] not in DOSSIERS]


class AuditEventOutput(serializers.Serializer):
    """One event exactly as chained: recompute `hash` from the fields and `prev_hash` to verify it."""

    sequence = serializers.IntegerField()
    timestamp = serializers.DateTimeField(default_timezone=UTC)
    actor = serializers.CharField(source="actor_label", help_text="Frozen label: username, token or system name.")
    actor_kind = serializers.ChoiceField(choices=ActorKind.CHOICES)
    action = serializers.CharField(help_text="Dotted verb, e.g. `request.approved`.")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    model_id = serializers.IntegerField(allow_null=True)
    version_id = serializers.IntegerField(allow_null=True)
    environment_id = serializers.IntegerField(allow_null=True)
    request_id = serializers.IntegerField(allow_null=True, help_text="Deployment request id.")
    changes = serializers.DictField(help_text="Field → [before, after].")
    context = serializers.DictField(help_text="Request id, client address, source of the change.")
    hash = serializers.CharField(help_text="SHA-256 over the canonical JSON of the event and `prev_hash`.")
    prev_hash = serializers.CharField()


class ExportStartInput(serializers.Serializer):
    """What to export: a format and the audit page's filters (all optional; dates are UTC days, inclusive)."""

    format = serializers.ChoiceField(choices=START_FORMATS)
    actor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    action = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Prefix: `model.`")
    target = serializers.CharField(required=False, allow_blank=True, max_length=200)
    team = serializers.IntegerField(required=False, min_value=1)
    model = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Name, slug or id.")
    version = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Version name under `model`, or an id."
    )
    environment = serializers.IntegerField(required=False, min_value=1)
    request = serializers.IntegerField(required=False, min_value=1, help_text="Deployment request id.")
    date_from = serializers.DateField(required=False, help_text="Since this UTC day (inclusive).")
    date_to = serializers.DateField(required=False, help_text="Until this UTC day (inclusive).")

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs

    def filter_params(self) -> dict[str, str]:
        """The filters as the page posts them (strings), for exports.filters.parse()."""
        return {key: str(value) for key, value in self.validated_data.items() if key != "format"}


class AuditExportOutput(serializers.Serializer):
    """An export's progress; once `done`, its file and the signed manifest describing it."""

    id = serializers.UUIDField()
    format = serializers.ChoiceField(choices=ExportFormat.choices)
    status = serializers.ChoiceField(choices=ExportStatus.choices)
    filters = serializers.DictField()
    total = serializers.IntegerField(help_text="Events expected.")
    row_count = serializers.IntegerField(help_text="Events written so far.")
    progress_percent = serializers.IntegerField()
    created_at = serializers.DateTimeField(default_timezone=UTC)
    finished_at = serializers.DateTimeField(default_timezone=UTC, allow_null=True)
    expires_at = serializers.DateTimeField(default_timezone=UTC, allow_null=True, help_text="The file is deleted then.")
    file_name = serializers.CharField()
    file_sha256 = serializers.CharField(help_text="SHA-256 of the events' bytes (JSON Lines: up to the manifest).")
    manifest = serializers.DictField(help_text="Signed statement of the file: SHA-256, count, sequence ranges.")
    signature = serializers.CharField(help_text="Ed25519 signature of the manifest (base64).")
    error = serializers.CharField()
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def _absolute(self, name: str, export) -> str:
        url = reverse(name, args=[export.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, export) -> str:
        return self._absolute("audit-export-detail", export)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_download_url(self, export) -> str | None:
        """Set once the file is ready (null while running, and after it failed or expired)."""
        if export.status != ExportStatus.DONE or export.streamed:
            return None
        return self._absolute("audit-export-download", export)
