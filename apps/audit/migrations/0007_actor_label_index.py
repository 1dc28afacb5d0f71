"""An index on UPPER(actor_label) for the audit trail's actor filter (case-insensitive equality), so a rare
actor's page and capped count read that actor's rows, not the whole table. Building it reads the table once.

On PostgreSQL it is built CONCURRENTLY (outside a transaction): a plain CREATE INDEX would hold off every audit
append, and so every governed change, for as long as it reads a trail of millions of events."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
            schema_editor.add_index(model, self.index, **concurrently)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
            schema_editor.remove_index(model, self.index, **concurrently)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("audit", "0006_auditexport_moves_to_compliance"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="auditevent",
            index=models.Index(django.db.models.functions.text.Upper("actor_label"), name="audit_actor_upper_idx"),
        ),
    ]
