"""An index on UPPER(actor_label) for the audit trail's actor filter (case-insensitive equality), so a rare
actor's page and capped count read that actor's rows, not the whole table. Building it reads the table once.

On PostgreSQL it is built CONCURRENTLY (outside a transaction): a plain CREATE INDEX would hold off every audit
append, and so every governed change, for as long as it reads a trail of millions of events."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

from apps.core.migration_operations import AddIndexConcurrentlyOnPostgreSQL


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
