"""The sync engine against real Git repositories built in temp dirs, on the real database."""

import pytest
from django.db import transaction

from apps.audit.actors import Actor
from apps.gitsync import services
from apps.gitsync.models import GitRepository, KnownTag, SyncRun, SyncStatus, Trigger
from apps.gitsync.sync import sync_repository
from apps.inventory.models import ModelVersion, RegisteredModel, Source
from tests.conftest import DIGEST, Trail

pytestmark = pytest.mark.django_db

GOVPORTAL = """\
models:
  - name: Churn Predictor
    team: credit-risk
    risk_tier: medium
    intended_use: Flag customers likely to leave.
    versions:
      - version: 1.0.0
        artifact_uri: s3://models/churn/1.0.0/model.pkl
        artifact_digest: sha256:{digest}
        metrics: {{auc: 0.81}}
        parameters: {{depth: 6}}
        model_card: models/churn/README.md
"""
CARD = """\
---
license: apache-2.0
datasets: [crm-2026]
model-index:
  - name: churn
    results:
      - metrics:
          - type: auc
            value: 0.81
---
# Churn predictor

Gradient-boosted trees over CRM features.
"""
MLMODEL = """\
artifact_path: model
flavors:
  python_function: {loader_module: mlflow.sklearn}
  sklearn: {sklearn_version: 1.5.0}
run_id: 8d3c0f1e2b
"""


def make_repository(cast, remote, **fields) -> GitRepository:
    with transaction.atomic():
        repository, _ = services.repository_create(
            actor=Actor.of(cast.alice), team=cast.team_a, name=fields.pop("name", "churn"), url=remote.url, **fields
        )
    return repository


def sync(repository, trigger=Trigger.SCHEDULE) -> SyncRun:
    run = sync_repository(repository.pk, trigger=trigger, requested_by="test")
    repository.refresh_from_db()
    return run


def inventory_state(repository) -> list[tuple]:
    """The inventory as a user sees it, for comparing a full sync with incremental ones."""
    rows = []
    for version in ModelVersion.objects.filter(model__source_repository_url=repository.url).select_related("model"):
        rows.append(
            (
                version.model.name, version.model.risk_tier, version.model.intended_use, version.version,
                version.git_commit_sha, version.git_tag, version.git_author, version.git_committed_at,
                tuple(version.stages), version.deregistered, version.artifact_digest, version.metrics,
                version.parameters, version.model_card, version.source_metadata, version.source,
            )
        )  # fmt: skip
    return sorted(rows, key=repr)


@pytest.fixture
def churn_repo(remote):
    remote.commit("churn model", {
        "govportal.yaml": GOVPORTAL.format(digest=DIGEST), "models/churn/README.md": CARD,
        "models/churn/MLmodel": MLMODEL,
    })  # fmt: skip
    return remote


def test_first_sync_registers_models_and_versions_from_govportal_yaml(cast, churn_repo):
    repository = make_repository(cast, churn_repo)
    head = churn_repo.git("rev-parse", "HEAD")
    trail = Trail()

    run = sync(repository)

    assert run.status == SyncStatus.SUCCEEDED, (run.errors, run.warnings)
    assert (run.created, run.updated, run.unchanged, run.commits_read) == (1, 0, 0, 1)
    model = RegisteredModel.objects.get(name="Churn Predictor")
    assert (model.team, model.risk_tier, model.source_repository_url) == (cast.team_a, "medium", churn_repo.url)
    version = model.versions.get()
    assert version.source == Source.GIT
    assert version.git_commit_sha == head
    assert version.git_author == "Dana Dev <dana@example.org>"
    assert version.artifact_digest == DIGEST
    assert version.metrics == {"auc": 0.81}
    assert "Gradient-boosted trees" in version.model_card
    assert version.source_metadata["huggingface"]["license"] == "apache-2.0"
    assert version.source_metadata["mlflow"]["flavors"] == ["python_function", "sklearn"]
    assert version.source_metadata["mlflow"]["run_id"] == "8d3c0f1e2b"
    events = trail.events()
    assert [e.action for e in events] == ["model.registered", "version.created"]
    assert {(e.actor_label, e.actor_kind) for e in events} == {("git-sync", "system")}
    assert events[1].context["commit"] == head
    assert events[1].context["sync_run"] == run.pk
    assert events[1].context["repository"] == "churn"
    assert repository.last_synced_commit == head
    assert repository.last_sync_status == SyncStatus.SUCCEEDED


def test_syncing_twice_changes_nothing_and_records_no_events(cast, churn_repo):
    repository = make_repository(cast, churn_repo)
    sync(repository)
    before = inventory_state(repository)
    trail = Trail()

    run = sync(repository)

    assert run.status == SyncStatus.UNCHANGED
    assert trail.events() == []
    assert inventory_state(repository) == before


def test_gto_tags_register_versions_with_stages_and_deregistration(cast, remote):
    remote.commit("declare", {"artifacts.yaml": "churn:\n  type: model\n  path: models/churn\n  description: Churn\n",
                              "models/churn/MLmodel": MLMODEL})  # fmt: skip
    first = remote.tag("churn@v1.0.0")
    remote.commit("retrain")
    second = remote.tag("churn@v1.1.0")
    remote.tag("churn#staging#1", rev=first)
    remote.tag("churn#prod#2", rev=second)
    remote.tag("churn#staging#3", rev=second)
    remote.tag("churn#staging!#4", rev=first)
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.SUCCEEDED, (run.errors, run.warnings)
    model = RegisteredModel.objects.get(name="churn")
    assert (model.risk_tier, model.description, model.source_path) == ("high", "Churn", "models/churn")
    versions = {v.version: v for v in model.versions.all()}
    assert set(versions) == {"v1.0.0", "v1.1.0"}
    assert versions["v1.0.0"].git_commit_sha == first
    assert versions["v1.0.0"].git_tag == "churn@v1.0.0"
    assert versions["v1.0.0"].stages == []
    assert versions["v1.1.0"].stages == ["prod", "staging"]
    assert versions["v1.0.0"].source_metadata["mlflow"]["run_id"] == "8d3c0f1e2b"

    remote.tag("churn@v1.0.0!")
    remote.tag("churn@deprecated")
    trail = Trail()
    run = sync(repository)
    assert run.updated == 1
    assert ModelVersion.objects.get(version="v1.0.0").deregistered
    assert "deprecated" in RegisteredModel.objects.get(name="churn").tags.values_list("name", flat=True)
    assert trail.actions() == ["version.updated", "model.updated"] or trail.actions() == [
        "model.updated",
        "version.updated",
    ]


def test_full_sync_equals_any_sequence_of_incremental_syncs(cast, remote):
    history = []

    def step(fn):
        history.append(fn)

    step(lambda r: r.commit("one", {"govportal.yaml": GOVPORTAL.format(digest=DIGEST)}))
    step(lambda r: r.tag("churn-predictor@v2.0.0"))
    step(lambda r: r.commit("two", {"govportal.yaml": GOVPORTAL.format(digest=DIGEST).replace("0.81", "0.83")}))
    step(lambda r: r.tag("v1.0.0", rev="HEAD~1", message=False))
    step(lambda r: r.commit("three", {"artifacts.yaml": "churn-predictor:\n  type: model\n"}))
    step(lambda r: r.tag("churn-predictor#prod#1", rev="HEAD"))

    repository = make_repository(cast, remote)
    for fn in history:
        fn(remote)
        run = sync(repository)
        assert run.status != SyncStatus.FAILED, run.errors
    after_incremental = inventory_state(repository)
    assert len(after_incremental) == 2

    # The same history synced once, from nothing: forget the inventory and everything the syncs remembered.
    ModelVersion.objects.filter(model__source_repository_url=remote.url).delete()
    RegisteredModel.objects.filter(source_repository_url=remote.url).delete()
    KnownTag.objects.all().delete()
    GitRepository.objects.filter(pk=repository.pk).update(last_synced_commit="", last_tags_fingerprint="")
    repository.refresh_from_db()
    run = sync(repository)
    assert run.created == 2
    assert inventory_state(repository) == after_incremental
