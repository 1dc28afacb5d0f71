"""AuditExport now belongs to the compliance app (compliance 0001): drop it from audit's state, keep the table.

No dependency on compliance: the kernel migrates without it, and nothing refers to AuditExport by foreign key.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_checkpoint_triggers")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AuditExport")]),
    ]
