"""AuditExport moves here from the audit app: its table (audit_auditexport) and rows stay where they are.

Only Django's idea of the model moves (state), together with its content type, so the permissions that name it
keep pointing at it. audit 0006 removes it from audit's state after this migration.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def adopt_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="compliance", model="auditexport").exists():
        ContentType.objects.filter(app_label="audit", model="auditexport").update(app_label="compliance")


def return_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="audit", model="auditexport").exists():
        ContentType.objects.filter(app_label="compliance", model="auditexport").update(app_label="audit")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("audit", "0005_checkpoint_triggers"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditExport",
                    fields=[
                        ("id", models.UUIDField(primary_key=True, serialize=False)),
                        ("format", models.CharField(choices=[("csv", "CSV"), ("jsonl", "JSON Lines"), ("pdf", "PDF compliance report"), ("dossier-pdf", "Model dossier (PDF)"), ("dossier-json", "Model dossier (JSON)")], max_length=15)),
                        ("filters", models.JSONField(blank=True, default=dict)),
                        ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("done", "Ready"), ("failed", "Failed"), ("aborted", "Aborted"), ("expired", "Expired")], default="queued", max_length=10)),
                        ("streamed", models.BooleanField(default=False)),
                        ("total", models.BigIntegerField(default=0, help_text="Events expected (for progress).")),
                        ("row_count", models.BigIntegerField(default=0)),
                        ("file_name", models.CharField(blank=True, max_length=200)),
                        ("file_sha256", models.CharField(blank=True, max_length=64)),
                        ("manifest", models.JSONField(blank=True, default=dict)),
                        ("signature", models.TextField(blank=True)),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("expires_at", models.DateTimeField(blank=True, db_index=True, null=True)),
                        ("requested_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "audit_auditexport", "ordering": ["-created_at"]},
                ),
            ],
            database_operations=[migrations.RunPython(adopt_content_type, return_content_type)],
        ),
    ]
