from django.db import migrations, models


class Migration(migrations.Migration):
    """Portal auditors: the people who read the portal-wide security events (set by superusers in /admin/)."""

    dependencies = [
        ("accounts", "0003_granted_credentials"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="is_portal_auditor",
            field=models.BooleanField(
                default=False,
                help_text="Reads the portal-wide security events (sign-ins, failed signatures, rejected webhooks) of "
                "every team. Team roles still decide everything else.",
                verbose_name="portal auditor",
            ),
        ),
    ]
