from django.db import migrations


def install_triggers(apps, schema_editor):
    from apps.audit import triggers

    triggers.install(schema_editor.connection, tables=(triggers.TABLE,))  # the checkpoint table comes in 0004


def drop_triggers(apps, schema_editor):
    from apps.audit import triggers

    triggers.drop(schema_editor.connection, tables=(triggers.TABLE,))


def create_chain_head(apps, schema_editor):
    ChainHead = apps.get_model("audit", "ChainHead")
    ChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(install_triggers, drop_triggers),
        migrations.RunPython(create_chain_head, migrations.RunPython.noop),
    ]
