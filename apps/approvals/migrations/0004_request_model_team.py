"""Requests carry their version's model and team (see DeploymentRequest): added empty, then filled in one statement.

The columns are added without their foreign-key constraints: with them, PostgreSQL would check every updated row
one by one at commit (two deferred triggers a row); 0005 adds the constraints afterwards, which checks them all in
one query, and makes the columns NOT NULL. The two steps are two migrations, so two transactions: PostgreSQL
refuses to alter a table that still has deferred checks pending from an UPDATE in the same transaction."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = """
UPDATE approvals_deploymentrequest
SET model_id = v.model_id, team_id = m.team_id
FROM inventory_modelversion AS v INNER JOIN inventory_registeredmodel AS m ON m.id = v.model_id
WHERE v.id = approvals_deploymentrequest.version_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_user_is_portal_auditor"),
        ("approvals", "0003_request_list_keyset"),
        ("inventory", "0006_model_tag_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="deploymentrequest",
            name="model",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                related_name="+", to="inventory.registeredmodel",
            ),
        ),
        migrations.AddField(
            model_name="deploymentrequest",
            name="team",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                related_name="+", to="accounts.team",
            ),
        ),
        # UPDATE … FROM (PostgreSQL; SQLite since 3.33): one statement, a join, not a query per row.
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop, elidable=True),
    ]
