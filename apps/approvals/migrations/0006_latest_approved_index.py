"""The latest approval of a model in an environment read from one partial index (what should run there).

The deployments matrix read it with a subquery per request of the page's models, each re-reading the model's
requests: 211 ms at 1M requests (100 a model), and quadratic in a model's approvals. Built CONCURRENTLY on
PostgreSQL, as audit 0007's index, so requests are not held off while it reads the table.

PostgreSQL only: SQLite refuses NULLS LAST in an index, and reads the latest approval with a subquery instead
(deployments.selectors._latest_approved)."""

from django.conf import settings
from django.db import migrations, models

from apps.core.migration_operations import AddIndexOnPostgreSQLOnly


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("approvals", "0005_request_model_team_required"),
        ("inventory", "0007_validation_due_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnPostgreSQLOnly(
            model_name="deploymentrequest",
            index=models.Index(
                models.F("model"),
                models.F("environment"),
                models.OrderBy(models.F("closed_at"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("state", "approved")),
                name="request_latest_approved",
            ),
        ),
    ]
