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
            actor=Actor.of(cast.admin), team=cast.team_a, name=fields.pop("name", "churn"), url=remote.url, **fields
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
    assert (model.version_count, model.latest_version, model.latest_version_at) == (1, version, version.created_at)
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

    remote.tag("churn@v1.0.0!", rev=first)  # at the version's commit, as `gto deprecate churn v1.0.0` tags it
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


def test_force_push_is_reported_and_nothing_is_deleted(cast, churn_repo):
    repository = make_repository(cast, churn_repo)
    churn_repo.commit("v2", {"govportal.yaml": GOVPORTAL.format(digest=DIGEST) + _VERSION_2})
    sync(repository)
    old_head = repository.last_synced_commit
    churn_repo.git("reset", "-q", "--hard", "HEAD~1")
    new_head = churn_repo.commit("rewritten", {"notes.txt": "rewritten\n"})
    trail = Trail()

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert any("rewritten" in warning and old_head[:10] in warning for warning in run.warnings)
    [event] = trail.events(action="git.history_rewritten")
    assert event.changes["head"] == [old_head, new_head]
    assert event.actor_label == "git-sync"
    assert set(ModelVersion.objects.values_list("version", flat=True)) == {"1.0.0", "2.0.0"}
    assert repository.last_synced_commit == new_head


_VERSION_2 = """\
      - version: 2.0.0
        artifact_digest: sha256:{digest}
""".format(digest="b" * 64)


def test_a_moved_release_tag_is_reported_once_and_the_version_keeps_its_commit(cast, remote):
    first = remote.commit("one")
    remote.tag("churn@v1.0.0")
    repository = make_repository(cast, remote)
    sync(repository)
    second = remote.commit("two")
    remote.tag("churn@v1.0.0", rev=second, force=True)
    trail = Trail()

    run = sync(repository)

    assert any("churn@v1.0.0 moved" in warning for warning in run.warnings)
    [event] = trail.events(action="git.tag_moved")
    assert event.changes == {"tag": [None, "churn@v1.0.0"], "target": [first, second]}
    version = ModelVersion.objects.get(version="v1.0.0")
    assert version.git_commit_sha == first
    assert KnownTag.objects.get(name="churn@v1.0.0").target_sha == second
    assert trail.actions(action="git.tag_moved") == ["git.tag_moved"]
    assert sync(repository).status == SyncStatus.UNCHANGED  # reported once, not on every sync


def test_one_bad_model_does_not_stop_the_others(cast, remote):
    remote.commit("two models", {"govportal.yaml": """\
models:
  - name: Good Model
    team: credit-risk
    risk_tier: low
    versions: [{version: 1.0.0}]
  - name: Wrong Team
    team: fraud
    risk_tier: low
    versions: [{version: 1.0.0}]
  - name: Bad Tier
    team: credit-risk
    risk_tier: extreme
"""})  # fmt: skip
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["Good Model"]
    errors = "\n".join(run.errors)
    assert "govportal.yaml:6: team: model 'Wrong Team' names team 'fraud'" in errors
    assert "govportal.yaml:12: models[2].risk_tier: risk_tier must be one of" in errors


def test_malformed_yaml_names_the_file_and_line(cast, remote):
    remote.commit("broken", {"govportal.yaml": "models:\n  - name: [unclosed\n"})
    repository = make_repository(cast, remote)
    run = sync(repository)
    assert run.status == SyncStatus.WARNING
    assert run.errors and run.errors[0].startswith("govportal.yaml:")
    assert not RegisteredModel.objects.exists()


def test_oversized_and_non_utf8_files_are_reported_not_read(cast, remote, settings):
    settings.GITSYNC_MAX_FILE_BYTES = 2000
    yaml = GOVPORTAL.format(digest=DIGEST).replace("models/churn/README.md", "card.md")
    remote.commit("files", {"govportal.yaml": yaml, "card.md": "x" * 5000, "MLmodel": b"flavors: \xff\n"})
    repository = make_repository(cast, remote)

    run = sync(repository)

    errors = "\n".join(run.errors)
    assert "card.md: 5000 bytes, over the limit of 2000; not read" in errors
    assert "MLmodel: not UTF-8 (invalid byte at offset 9); not read" in errors
    version = ModelVersion.objects.get()  # the version itself still syncs, without the card
    assert version.model_card == ""


def test_an_unreachable_remote_fails_the_run_with_a_readable_error(cast, tmp_path):
    from .gitwork import Work

    gone = Work(tmp_path / "gone")
    repository = make_repository(cast, gone)
    import shutil

    shutil.rmtree(gone.path)
    run = sync(repository)
    assert run.status == SyncStatus.FAILED
    assert run.errors[0].startswith("could not read the repository: git fetch from")
    assert repository.last_sync_status == SyncStatus.FAILED


def test_a_transient_error_is_recorded_and_raised_for_the_task_to_retry(cast, db):
    import socket

    from apps.gitsync.exceptions import TransientSyncError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with transaction.atomic():
        repository, _ = services.repository_create(
            actor=Actor.of(cast.alice), team=cast.team_a, name="down", url=f"http://127.0.0.1:{port}/x.git"
        )
    with pytest.raises(TransientSyncError):
        sync_repository(repository.pk, trigger=Trigger.SCHEDULE)
    run = SyncRun.objects.get(repository=repository)
    assert run.status == SyncStatus.FAILED
    assert "Connection refused" in run.errors[0] or "connect" in run.errors[0].lower()


def test_hand_entered_versions_and_other_teams_models_are_never_overwritten(cast, models, remote):
    remote.commit("clash", {"govportal.yaml": """\
models:
  - name: Retail Scorecard
    team: credit-risk
    risk_tier: low
"""})  # fmt: skip
    repository = make_repository(cast, remote)
    run = sync(repository)
    assert "a model named 'Retail Scorecard' already exists in Credit Risk and is not synced" in run.errors[0]
    assert RegisteredModel.objects.get(name="Retail Scorecard").risk_tier == "high"


def test_lock_held_elsewhere_means_the_sync_is_coalesced(cast, churn_repo):
    from apps.gitsync import locks

    repository = make_repository(cast, churn_repo)
    with _held_elsewhere(locks, repository):
        assert sync_repository(repository.pk, trigger=Trigger.SCHEDULE) is None
    assert not SyncRun.objects.exists()
    assert sync(repository).status == SyncStatus.SUCCEEDED


def _held_elsewhere(locks, repository):
    """The repository's lock held by another session (PostgreSQL) or an unexpired lease (SQLite)."""
    import contextlib

    from django.db import connection

    @contextlib.contextmanager
    def held():
        if connection.vendor == "postgresql":
            import psycopg2

            settings_dict = connection.settings_dict
            other = psycopg2.connect(
                dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"],
                port=settings_dict["PORT"] or 5432,
            )  # fmt: skip
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [locks.ADVISORY_NAMESPACE, repository.pk])
                    assert cursor.fetchone()[0]
                yield
            finally:
                other.close()  # a closed session frees its advisory locks, as a killed worker's does
                _wait_until_freed(connection, locks.ADVISORY_NAMESPACE, repository.pk)
        else:
            from datetime import timedelta

            from django.utils import timezone

            GitRepository.objects.filter(pk=repository.pk).update(lease_until=timezone.now() + timedelta(minutes=5))
            yield
            GitRepository.objects.filter(pk=repository.pk).update(lease_until=None)

    return held()


def _wait_until_freed(connection, namespace: int, key: int, timeout: float = 10.0) -> None:
    """The server ends a closed session's backend, and frees its locks, a moment after the client hangs up."""
    import time

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
                [namespace, key],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


def test_an_expired_lease_does_not_block_a_sync(cast, churn_repo):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL uses an advisory lock, freed with the session; leases are the SQLite path")
    repository = make_repository(cast, churn_repo)
    GitRepository.objects.filter(pk=repository.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert sync(repository).status == SyncStatus.SUCCEEDED


def test_requests_while_one_is_queued_are_coalesced(cast, churn_repo, monkeypatch, django_capture_on_commit_callbacks):
    from apps.gitsync import tasks

    sent = []
    # Stands in for the broker only; tests/gitsync/test_worker.py runs the same path through real Redis.
    monkeypatch.setattr(tasks.sync_repository_task, "delay", lambda *args: sent.append(args))
    repository = make_repository(cast, churn_repo)
    trail = Trail()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.repository_request_sync(actor=Actor.of(cast.dana), repository=repository)
        second = services.repository_request_sync(actor=Actor.of(cast.alice), repository=repository)
    assert (first, second) == (True, False)
    assert sent == [(repository.pk, Trigger.MANUAL, "dana")]
    events = trail.events(action="git.sync_requested")
    assert [(e.actor_label, e.changes["coalesced"][1]) for e in events] == [("dana", False), ("alice", True)]


def test_sync_now_is_refused_to_viewers_and_for_disabled_repositories(cast, churn_repo):
    from django.core.exceptions import PermissionDenied, ValidationError

    repository = make_repository(cast, churn_repo)
    trail = Trail()
    with pytest.raises(PermissionDenied):
        services.repository_request_sync(actor=Actor.of(cast.vera), repository=repository)
    with transaction.atomic():
        services.repository_update(actor=Actor.of(cast.alice), repository=repository, enabled=False)
    repository.refresh_from_db()
    with pytest.raises(ValidationError, match="disabled"):
        services.repository_request_sync(actor=Actor.of(cast.dana), repository=repository)
    assert trail.actions() == ["repository.updated"]
    assert not SyncRun.objects.exists()


def test_a_run_left_running_by_a_dead_worker_is_closed_by_the_next_sync(cast, churn_repo):
    repository = make_repository(cast, churn_repo)
    dead = SyncRun.objects.create(repository=repository, trigger=Trigger.SCHEDULE)
    sync(repository)
    dead.refresh_from_db()
    assert dead.status == SyncStatus.FAILED
    assert "worker stopped" in dead.errors[0]


def test_manual_sync_after_problems_rereads_and_picks_up_the_fix(cast, remote):
    yaml = GOVPORTAL.format(digest=DIGEST).replace("credit-risk", "ops").replace("model_card:", "# model_card:")
    remote.commit("ops model", {"govportal.yaml": yaml})
    repository = make_repository(cast, remote)
    assert sync(repository).status == SyncStatus.WARNING
    # The fix is made in the portal, not in Git: the repository's team takes the slug the file names.
    cast.team_a.slug = "ops"
    cast.team_a.save()
    repository.refresh_from_db()
    assert sync(repository).status == SyncStatus.UNCHANGED
    assert repository.last_sync_status == SyncStatus.WARNING  # the problem stands until a sync clears it
    run = sync(repository, trigger=Trigger.MANUAL)
    assert (run.status, run.created, run.errors, run.warnings) == (SyncStatus.SUCCEEDED, 1, [], [])
    assert repository.last_sync_status == SyncStatus.SUCCEEDED


def test_the_task_retries_transient_failures_with_backoff(cast, monkeypatch):
    from celery.exceptions import Retry

    from apps.gitsync import tasks
    from apps.gitsync.exceptions import TransientSyncError

    def down(*args, **kwargs):
        raise TransientSyncError("git fetch timed out after 300 s")

    monkeypatch.setattr("apps.gitsync.sync.sync_repository", down)
    retried = []

    def retry(**kwargs):
        retried.append(kwargs)
        return Retry("retry", when=kwargs["countdown"])

    monkeypatch.setattr(tasks.sync_repository_task, "retry", retry)
    # Run as a worker would (not eagerly): the transient failure becomes a retry 30 to 37 s later.
    tasks.sync_repository_task.push_request(retries=0, is_eager=False)
    try:
        with pytest.raises(Retry):
            tasks.sync_repository_task.run(1, "schedule", "beat")
    finally:
        tasks.sync_repository_task.pop_request()
    assert 30 <= retried[0]["countdown"] <= 37
    assert isinstance(retried[0]["exc"], TransientSyncError)
    # In-process (development, no broker) the failure is on record and nothing loops.
    assert tasks.sync_repository_task.delay(1, "schedule", "beat").get() is None
