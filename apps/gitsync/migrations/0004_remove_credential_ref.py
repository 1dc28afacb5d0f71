from django.db import migrations


class Migration(migrations.Migration):
    """The free-text reference is gone (0003 moved it into a granted credential): nobody can name one again."""

    dependencies = [("gitsync", "0003_granted_credential")]

    operations = [migrations.RemoveField(model_name="gitrepository", name="credential_ref")]
