# The home page's charts count closed requests by state and week, and time the approved ones.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="deploymentrequest",
            index=models.Index(fields=["state", "closed_at"], name="request_state_closed"),
        ),
    ]
