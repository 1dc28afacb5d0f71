from django.db import migrations


def create(apps, schema_editor):
    from apps.gitsync.schedule import ensure_periodic_sync

    ensure_periodic_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("gitsync", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
