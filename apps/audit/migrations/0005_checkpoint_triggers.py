from django.db import migrations


def install_triggers(apps, schema_editor):
    from apps.audit import triggers

    triggers.install(schema_editor.connection, tables=(triggers.CHECKPOINT_TABLE,))


def drop_triggers(apps, schema_editor):
    from apps.audit import triggers

    triggers.drop(schema_editor.connection, tables=(triggers.CHECKPOINT_TABLE,))


class Migration(migrations.Migration):
    """Signed checkpoints are append-only like events: the database refuses UPDATE, DELETE and TRUNCATE."""

    dependencies = [("audit", "0004_exports_checkpoints")]

    operations = [migrations.RunPython(install_triggers, drop_triggers)]
