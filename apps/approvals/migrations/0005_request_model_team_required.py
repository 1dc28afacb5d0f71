"""The filled-in model and team become required, with their foreign keys and the indexes the lists read."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0004_request_model_team"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deploymentrequest",
            name="model",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="inventory.registeredmodel",
            ),
        ),
        migrations.AlterField(
            model_name="deploymentrequest",
            name="team",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.team"
            ),
        ),
        migrations.AddIndex(
            model_name="deploymentrequest",
            index=models.Index(fields=["team", "created_at", "id"], name="request_team_keyset"),
        ),
        migrations.AddIndex(
            model_name="deploymentrequest",
            index=models.Index(fields=["model", "created_at", "id"], name="request_model_keyset"),
        ),
    ]
