"""Upgrading a portal whose repositories named their credentials in free text: nothing is sent until reviewed."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("gitsync", "0002_periodic_sync")]


def migrate(targets=None):
    """Migrate to `targets` (None: every app's latest, as the rest of the suite expects); the apps at that state."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def test_free_text_references_become_disabled_credentials_limited_to_their_hosts():
    old = migrate(BEFORE)
    team = old.get_model("accounts", "Team").objects.create(name="Credit Risk", slug="credit-risk")
    other = old.get_model("accounts", "Team").objects.create(name="Fraud", slug="fraud")
    repository = old.get_model("gitsync", "GitRepository")
    repository.objects.create(name="a", url="https://github.com/acme/a.git", branch="main", team=team,
                              credential_ref="env:GITHUB_TOKEN")  # fmt: skip
    repository.objects.create(name="b", url="https://ghe.example.com:8443/acme/b.git", branch="main", team=other,
                              credential_ref="env:GITHUB_TOKEN")  # fmt: skip
    repository.objects.create(name="c", url="https://github.com/acme/c.git", branch="main", team=team)

    new = migrate()

    credential_model = new.get_model("accounts", "GrantedCredential")
    [credential] = credential_model.objects.all()
    assert credential.reference == "env:GITHUB_TOKEN" and credential.enabled is False
    assert sorted(credential.allowed_hosts) == ["ghe.example.com:8443", "github.com"]
    assert sorted(credential.teams.values_list("slug", flat=True)) == ["credit-risk", "fraud"]
    repositories = {r.name: r.credential_id for r in new.get_model("gitsync", "GitRepository").objects.all()}
    assert repositories == {"a": credential.pk, "b": credential.pk, "c": None}
