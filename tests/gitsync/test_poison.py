"""Commits that must not poison a repository: whatever Git accepts is read, or reported on its commit, and the next
commit syncs. Every repository here is real; the odd objects are written with Git's own plumbing."""

import os
import subprocess

import pytest
from django.db import transaction

from apps.gitsync.models import GitRepository, SyncRun, SyncStatus, Trigger
from apps.inventory.models import ModelVersion, RegisteredModel

from .gitwork import BASE
from .test_sync import make_repository, sync

pytestmark = pytest.mark.django_db

MODEL = """\
models:
  - name: Churn Predictor
    team: credit-risk
    risk_tier: medium
    versions:
      - version: {version}
"""
EMAILS = {"GIT_AUTHOR_EMAIL": "dana@example.org", "GIT_COMMITTER_EMAIL": "dana@example.org"}


def commit_as(remote, author: str, message: str, files: dict) -> str:
    """A commit whose author (and committer) is `author`, exactly as written (git keeps control characters)."""
    remote.n += 1
    for name, content in files.items():
        target = remote.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    remote.git("add", "-A")
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author, **EMAILS}
    env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{BASE + remote.n * 60} +0000"
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=remote.path, env=env, check=True)
    return remote.git("rev-parse", "HEAD")


def tag_as(remote, tagger: str, name: str, message: str = "", rev: str = "HEAD") -> None:
    remote.n += 1
    env = {**os.environ, **EMAILS, "GIT_COMMITTER_NAME": tagger, "GIT_COMMITTER_DATE": f"@{BASE + remote.n * 60} +0000"}
    subprocess.run(["git", "tag", "-a", name, "-m", message or name, rev], cwd=remote.path, env=env, check=True)


def test_a_control_character_in_an_author_name_is_read_as_written(cast, remote):
    head = commit_as(
        remote, "Eve\x1fMallory", "a unit separator in the name", {"govportal.yaml": MODEL.format(version="1.0.0")}
    )
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert (run.status, run.errors) == (SyncStatus.SUCCEEDED, [])
    version = ModelVersion.objects.get()
    assert (version.git_commit_sha, version.git_author) == (head, "Eve\x1fMallory <dana@example.org>")
    remote.commit("next", {"govportal.yaml": MODEL.format(version="1.0.0") + "      - version: 1.1.0\n"})
    assert sync(repository).status == SyncStatus.SUCCEEDED
    assert ModelVersion.objects.count() == 2


def test_a_control_character_in_a_tagger_name_is_read_as_written(cast, remote):
    first = remote.commit("one")
    tag_as(remote, "Eve\x1fMallory", "churn@v1.0.0", "Registering\x1fchurn\x1e1.0.0")
    tag_as(remote, "Eve\x1fMallory", "churn#prod#1", rev=first)
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert (run.status, run.errors) == (SyncStatus.SUCCEEDED, [])
    version = ModelVersion.objects.get()
    assert (version.version, version.git_commit_sha, version.stages) == ("v1.0.0", first, ["prod"])


def nested(depth: int) -> str:
    return "models: " + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize(
    "depth, error",
    [
        (980, "govportal.yaml:1: nested more than 64 levels deep; not read"),  # under libyaml's limit: Python's stack
        (5000, "govportal.yaml:1: malformed YAML: exceeded maximum nesting depth"),  # libyaml's own limit
    ],
)
def test_a_deeply_nested_govportal_yaml_is_refused_before_parsing_and_the_fix_syncs(cast, remote, depth, error):
    remote.commit("deep", {"govportal.yaml": nested(depth)})
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert run.errors == [error]
    remote.commit("fixed", {"govportal.yaml": MODEL.format(version="1.0.0")})
    run = sync(repository)
    assert (run.status, run.errors, run.created) == (SyncStatus.SUCCEEDED, [], 1)


def test_a_deeply_nested_file_in_an_old_commit_does_not_block_a_full_sync(cast, remote):
    remote.commit("deep", {"govportal.yaml": nested(980)})
    remote.commit("fixed", {"govportal.yaml": MODEL.format(version="1.0.0")})
    repository = make_repository(cast, remote)

    for trigger in (Trigger.SCHEDULE, Trigger.MANUAL):  # the first sync, then a full re-read of the history
        run = sync(repository, trigger)
        assert (run.status, run.errors) == (SyncStatus.SUCCEEDED, []), trigger
    assert ModelVersion.objects.get().version == "1.0.0"


def test_a_failure_in_a_superseded_commit_does_not_block_later_commits(cast, remote, monkeypatch):
    from apps.gitsync import parsers

    parse = parsers.parse_govportal_yaml

    def breaks_on_the_first_file(text, *args, **kwargs):
        if "0.9.0" in text:
            raise ValueError("a bug the sync has not met yet")
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(parsers, "parse_govportal_yaml", breaks_on_the_first_file)
    remote.commit("old", {"govportal.yaml": MODEL.format(version="0.9.0")})
    remote.commit("new", {"govportal.yaml": MODEL.format(version="1.0.0")})
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert run.errors == []
    [warning] = run.warnings
    assert warning.startswith("govportal.yaml at ")
    assert "could not be read (ValueError: a bug the sync has not met yet)" in warning
    assert ModelVersion.objects.get().version == "1.0.0"
    assert repository.last_synced_commit == remote.git("rev-parse", "HEAD")


def test_no_exception_escapes_a_sync_and_the_run_says_why_it_failed(cast, remote, monkeypatch):
    from apps.gitsync import reading, tasks

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(reading, "read_gto", broken)
    remote.commit("one", {"govportal.yaml": MODEL.format(version="1.0.0")})
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.FAILED
    assert run.errors == ["internal error (RuntimeError: something nobody foresaw)"]
    assert repository.last_sync_status == SyncStatus.FAILED
    run_id = tasks.sync_repository_task.delay(repository.pk, Trigger.SCHEDULE, "beat").get()
    assert SyncRun.objects.get(pk=run_id).status == SyncStatus.FAILED


def test_sync_now_without_a_broker_never_answers_5xx(
    cast, remote, client, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.gitsync import reading

    monkeypatch.setattr(reading, "read_gto", lambda *args: 1 / 0)
    remote.commit("one", {"govportal.yaml": MODEL.format(version="1.0.0")})
    repository = make_repository(cast, remote)
    client.force_login(cast.dana)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/repositories/{repository.pk}/sync/")

    assert response.status_code == 302
    assert SyncRun.objects.get(repository=repository).errors == ["internal error (ZeroDivisionError: division by zero)"]


def test_the_signed_push_webhook_without_a_broker_never_answers_5xx(
    cast, remote, client, monkeypatch, django_capture_on_commit_callbacks
):
    import json

    from apps.audit.actors import Actor
    from apps.gitsync import reading, services
    from tests.hooks.conftest import push_payload, sign

    monkeypatch.setattr(reading, "read_gto", lambda *args: 1 / 0)
    remote.commit("one", {"govportal.yaml": MODEL.format(version="1.0.0")})
    with transaction.atomic():
        repository, secret = services.repository_create(
            actor=Actor.of(cast.admin), team=cast.team_a, name="poisoned", url=remote.url
        )
    GitRepository.objects.filter(pk=repository.pk).update(github_full_name="acme/poisoned")  # as if on github.com
    body = json.dumps(push_payload(full_name="acme/poisoned")).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(body, secret)}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/hooks/github/", data=body, content_type="application/json", headers=headers)

    assert response.status_code == 202
    [run] = SyncRun.objects.filter(repository=repository)
    assert (run.trigger, run.status) == (Trigger.WEBHOOK, SyncStatus.FAILED)


def test_a_symlinked_model_card_is_a_warning_naming_the_link(cast, remote):
    yaml = MODEL.format(version="1.0.0") + "        model_card: cards/churn.md\n"
    (remote.path / "cards").mkdir()
    (remote.path / "cards" / "churn.md").symlink_to("/etc/passwd")
    remote.commit("card", {"govportal.yaml": yaml})
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert run.warnings == ["cards/churn.md is a symbolic link; GovPortal reads only regular files"]
    assert ModelVersion.objects.get().model_card == ""


def test_a_symlinked_govportal_yaml_is_a_warning_naming_the_link(cast, remote):
    remote.commit("real file", {"models.yaml": MODEL.format(version="1.0.0")})
    (remote.path / "govportal.yaml").symlink_to("models.yaml")
    remote.commit("link")
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert run.errors == []
    assert run.warnings == ["govportal.yaml is a symbolic link; GovPortal reads only regular files"]
    assert not RegisteredModel.objects.exists()


def test_a_tag_on_a_blob_or_a_tree_is_a_warning(cast, remote):
    remote.commit("one", {"notes.txt": "notes\n"})
    remote.git("tag", "churn@v1.0.0", remote.git("rev-parse", "HEAD:notes.txt"))
    remote.git("tag", "-a", "churn#prod#1", "-m", "a tree", remote.git("rev-parse", "HEAD^{tree}"))
    repository = make_repository(cast, remote)

    run = sync(repository)

    assert run.status == SyncStatus.WARNING
    assert sorted(run.warnings) == [
        "tag churn#prod#1 points at a tree, not a commit; ignored",
        "tag churn@v1.0.0 points at a blob, not a commit; ignored",
    ]
    assert not RegisteredModel.objects.exists()
    assert sync(repository).status == SyncStatus.UNCHANGED
    assert GitRepository.objects.get().last_sync_status == SyncStatus.WARNING


def test_after_the_last_retry_a_transient_failure_stays_in_the_task(monkeypatch):
    from apps.gitsync import tasks
    from apps.gitsync.exceptions import TransientSyncError

    def down(*args, **kwargs):
        raise TransientSyncError("git fetch timed out after 300 s")

    monkeypatch.setattr("apps.gitsync.sync.sync_repository", down)
    tasks.sync_repository_task.push_request(retries=tasks.sync_repository_task.max_retries, is_eager=False)
    try:
        assert tasks.sync_repository_task.run(1, "schedule", "beat") is None  # the run is on record as failed
    finally:
        tasks.sync_repository_task.pop_request()
