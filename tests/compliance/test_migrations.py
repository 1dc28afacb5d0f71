"""AuditExport moved from the audit app to compliance: a database migrated before the move keeps every export."""

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.compliance.models import AuditExport, ExportStatus

AUDIT_BEFORE = ("audit", "0005_checkpoint_triggers")  # main's last audit migration, AuditExport still in audit
BEFORE_THE_MOVE = [AUDIT_BEFORE, ("compliance", None)]

pytestmark = pytest.mark.usefixtures("transactional_db")


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return executor


def test_migrating_a_database_from_before_the_move_keeps_its_exports_and_their_permissions(cast):
    content_type = ContentType.objects.get_for_model(AuditExport)
    view_permission = Permission.objects.get(content_type=content_type, codename="view_auditexport")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old_apps = _migrate(BEFORE_THE_MOVE).loader.project_state(AUDIT_BEFORE).apps
    try:
        OldExport = old_apps.get_model("audit", "AuditExport")
        export_id = uuid.uuid4()
        OldExport.objects.create(id=export_id, requested_by_id=cast.audrey.pk, format="csv", status="done",
                                 row_count=42, file_sha256="ab" * 32, manifest={"rows": 42})  # fmt: skip
        assert ContentType.objects.get(pk=content_type.pk).app_label == "audit"
    finally:
        _migrate(latest)

    export = AuditExport.objects.get(pk=export_id)
    assert (export.requested_by, export.format, export.status) == (cast.audrey, "csv", ExportStatus.DONE)
    assert export.row_count == 42
    assert export.manifest == {"rows": 42} and export.file_sha256 == "ab" * 32
    # The same content type row, now the compliance app's: permissions that name it still do.
    assert ContentType.objects.get_for_model(AuditExport).pk == content_type.pk
    assert Permission.objects.get(pk=view_permission.pk).content_type.app_label == "compliance"
    assert not ContentType.objects.filter(app_label="audit", model="auditexport").exists()
