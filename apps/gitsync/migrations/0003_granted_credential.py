"""Free-text credential references become granted credentials that a portal admin must review.

Until now a team admin typed `env:NAME` or `file:/path` and the worker sent whatever it named to whatever host
the repository pointed at. Each distinct reference becomes a GrantedCredential granted to the teams that used it,
limited to the https/ssh hosts of their repositories, and *disabled*: the sync then fails saying that a portal admin
must enable it in /admin/ after checking the reference and hosts. Nothing is sent in the meantime.
"""

import django.db.models.deletion
from django.db import migrations, models


def _host(url):
    from apps.accounts.credentials import url_host

    scheme, host = url_host(url)
    return host if scheme in ("https", "ssh") else ""


def forwards(apps, schema_editor):
    repository_model = apps.get_model("gitsync", "GitRepository")
    credential_model = apps.get_model("accounts", "GrantedCredential")
    by_reference = {}
    for repository in repository_model.objects.exclude(credential_ref="").order_by("pk"):
        credential = by_reference.get(repository.credential_ref)
        if credential is None:
            credential = credential_model.objects.create(
                name=f"migrated-{len(by_reference) + 1}-{repository.name}"[:100],
                reference=repository.credential_ref,
                enabled=False,
                description="Migrated from a repository's free-text reference: check the reference and hosts, "
                "then enable it.",
            )
            by_reference[repository.credential_ref] = credential
        host = _host(repository.url)
        if host and host not in credential.allowed_hosts:
            credential.allowed_hosts = sorted([*credential.allowed_hosts, host])
            credential.save(update_fields=["allowed_hosts"])
        credential.teams.add(repository.team_id)
        repository.credential = credential
        repository.save(update_fields=["credential"])


def backwards(apps, schema_editor):
    repository_model = apps.get_model("gitsync", "GitRepository")
    for repository in repository_model.objects.exclude(credential=None).select_related("credential"):
        repository.credential_ref = repository.credential.reference
        repository.save(update_fields=["credential_ref"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_granted_credentials"),
        ("gitsync", "0002_periodic_sync"),
    ]

    operations = [
        migrations.AddField(
            model_name="gitrepository",
            name="credential",
            field=models.ForeignKey(
                blank=True,
                help_text="A credential a portal admin granted to the team; empty for public repositories and SSH keys.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="repositories",
                to="accounts.grantedcredential",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
