"""An index on UPPER(actor_label) for the audit trail's actor filter (case-insensitive equality), so a rare
actor's page and capped count read that actor's rows, not the whole table. Building it reads the table once."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0006_auditexport_moves_to_compliance'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(django.db.models.functions.text.Upper('actor_label'), name='audit_actor_upper_idx'),
        ),
    ]
