"""Git sync through a real Celery worker and the real Redis broker, and the beat entry point that feeds them.

The worker is a separate process (`celery -A govportal worker`), so these tests commit their rows
(`transaction=True`) on PostgreSQL, the database whose advisory lock a killed worker must not keep.
Redis is CELERY_TEST_BROKER_URL (default redis://127.0.0.1:6379/7): a database number these tests own and
empty before and after each test. Without Redis they skip, saying so; with CI set they fail instead, so a
CI machine without Redis cannot pass silently. The beat tests at the end run in-process on any database.
"""

import subprocess
from collections import Counter

import pytest
from django.conf import settings
from django.contrib import admin
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent, ChainHead
from apps.gitsync import locks, schedule, services
from apps.gitsync.models import GitRepository, SyncRun, SyncStatus, Trigger
from apps.gitsync.tasks import sync_enabled_repositories_task
from apps.inventory.models import ModelVersion, RegisteredModel
from govportal.celery import app
from tests import workers
from tests.conftest import DIGEST, Trail
from tests.workers import QUEUE, queued_tasks, raw_connection, wait_for

from .gitwork import BASE, Work

SYNC_TASK = "apps.gitsync.tasks.sync_repository_task"
INTERRUPTED = "the worker stopped before this sync finished; the next sync picked up from the last good commit"

worker_test = pytest.mark.django_db(transaction=True)

ARTIFACTS = "churn:\n  type: model\n  path: models/churn\n  description: Churn\n"
GOVPORTAL = f"""\
models:
  - name: Fraud Scorer
    team: credit-risk
    risk_tier: medium
    intended_use: Score card transactions.
    versions:
      - version: 1.0.0
        artifact_uri: s3://models/fraud/1.0.0/model.pkl
        artifact_digest: sha256:{DIGEST}
"""


# -- the broker and the workers (tests/workers.py) --------------------------------------------------------


@pytest.fixture
def broker():
    with workers.broker() as client:
        yield client


@pytest.fixture
def start_worker(broker, mirror_dir, signing_key, tmp_path):
    """Start workers on demand; every one is killed, and its database sessions ended, when the test ends."""
    with workers.workers(mirror_dir=mirror_dir, signing_key=signing_key, tmp_path=tmp_path, label="gitsync") as start:
        yield start


def try_repository_lock(raw, repository_id: int) -> bool:
    """Take the repository's sync lock on `raw` if it is free (the caller releases it)."""
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [locks.ADVISORY_NAMESPACE, repository_id])
        return cursor.fetchone()[0]


def release_repository_lock(raw, repository_id: int) -> None:
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [locks.ADVISORY_NAMESPACE, repository_id])


# -- repositories -------------------------------------------------------------------------------------------


def make_repository(cast, remote) -> GitRepository:
    repository, _ = services.repository_create(
        actor=Actor.of(cast.admin), team=cast.team_a, name="churn", url=remote.url
    )
    return repository


def request_sync(cast, repository) -> bool:
    """Sync now, as alice: the task is sent to the broker when the request's transaction commits."""
    return services.repository_request_sync(actor=Actor.of(cast.alice), repository=repository, trigger=Trigger.MANUAL)


def finished_run(repository, exclude=()):
    return (
        SyncRun.objects.filter(repository=repository, finished_at__isnull=False)
        .exclude(pk__in=exclude)
        .order_by("pk")
        .last()
    )


def git_versions(repository) -> list[tuple[str, str]]:
    versions = ModelVersion.objects.filter(model__source_repository_url=repository.url)
    return sorted(versions.values_list("model__name", "version"))


def tagged_remote(path, count: int) -> Work:
    """A repository with `count` commits, each registered as a churn version by an annotated GTO tag.

    Built with one `git fast-import` (a few hundred `git tag -a` calls would take longer than the sync).
    """
    remote = Work(path)
    stream = []

    def data(text: str) -> str:
        return f"data {len(text.encode())}\n{text}\n"

    for n in range(1, count + 1):
        who = f"Dana Dev <dana@example.org> {BASE + n * 60} +0000"
        stream.append(f"commit refs/heads/main\nmark :{n}\nauthor {who}\ncommitter {who}\n" + data(f"train {n}"))
        if n == 1:
            stream.append("M 644 inline artifacts.yaml\n" + data(ARTIFACTS))
        stream.append("M 644 inline models/churn/weights.txt\n" + data(f"weights {n}\n"))
        stream.append(f"tag churn@v1.0.{n}\nfrom :{n}\ntagger {who}\n" + data(f"Registering churn v1.0.{n}"))
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=remote.path, input="".join(stream).encode(), check=True,
        capture_output=True,
    )  # fmt: skip
    return remote


# -- through the worker -------------------------------------------------------------------------------------


@worker_test
def test_sync_now_runs_on_a_real_worker_through_redis(cast, remote, broker, start_worker):
    remote.commit("declare", {"govportal.yaml": GOVPORTAL, "artifacts.yaml": ARTIFACTS})
    first = remote.tag("churn@v1.0.0")
    remote.commit("retrain")
    second = remote.tag("churn@v1.1.0")
    remote.tag("churn#prod#1", rev=second)
    repository = make_repository(cast, remote)
    trail = Trail()

    assert request_sync(cast, repository) is True

    assert queued_tasks(broker) == [(SYNC_TASK, [repository.pk, "manual", "alice"])]
    assert not SyncRun.objects.filter(repository=repository).exists()  # nothing ran in-process
    worker = start_worker()
    run = wait_for(lambda: finished_run(repository), "finished sync run", worker=worker)
    assert run.status == SyncStatus.SUCCEEDED, (run.errors, run.warnings)
    assert (run.trigger, run.requested_by, run.created) == (Trigger.MANUAL, "alice", 3)
    assert git_versions(repository) == [("Fraud Scorer", "1.0.0"), ("churn", "v1.0.0"), ("churn", "v1.1.0")]
    churn = {v.version: v for v in RegisteredModel.objects.get(name="churn").versions.all()}
    assert (churn["v1.0.0"].git_commit_sha, churn["v1.1.0"].git_commit_sha) == (first, second)
    assert churn["v1.1.0"].stages == ["prod"]
    events = trail.events()
    assert [(e.action, e.actor_label) for e in events] == [
        ("git.sync_requested", "alice"),
        ("model.registered", "git-sync"),
        ("version.created", "git-sync"),
        ("model.registered", "git-sync"),
        ("version.created", "git-sync"),
        ("version.created", "git-sync"),
    ]
    assert {e.context["sync_run"] for e in events[1:]} == {run.pk}
    assert broker.llen(QUEUE) == 0
    repository.refresh_from_db()
    assert (repository.last_sync_status, repository.sync_queued_at) == (SyncStatus.SUCCEEDED, None)


@worker_test
def test_killing_the_worker_mid_sync_and_syncing_again_duplicates_nothing(cast, tmp_path, broker, start_worker):
    total = 200
    remote = tagged_remote(tmp_path / "big", total)
    repository = make_repository(cast, remote)
    expected = [("churn", f"v1.0.{n}") for n in range(1, total + 1)]
    # Two versions a transaction: a hundred commits, so the bulk path cannot finish between two looks.
    worker = start_worker(GITSYNC_VERSIONS_PER_TRANSACTION="2")
    assert request_sync(cast, repository) is True

    # Catch the sync half-way: hold the audit chain head, which every version's transaction locks before it
    # commits, so the count read while holding it cannot move under us. Then kill the worker there.
    bystander = raw_connection()
    try:
        bystander.autocommit = False
        with bystander.cursor() as cursor:

            def frozen_half_way():
                cursor.execute(f"SELECT 1 FROM {ChainHead._meta.db_table} WHERE id = 1 FOR UPDATE")
                done = ModelVersion.objects.filter(model__source_repository_url=remote.url).count()
                if 0 < done < total:
                    return done
                assert done < total, "the sync finished before it could be interrupted; give it more tags"
                bystander.rollback()
                return 0

            done = wait_for(frozen_half_way, "versions written by the worker", worker=worker)
            worker.kill()
            bystander.rollback()  # the dead worker's session wakes, finds its client gone and rolls back
    finally:
        bystander.close()

    interrupted = SyncRun.objects.get(repository=repository)
    assert interrupted.status == SyncStatus.RUNNING  # nobody was left to finish it
    assert broker.hlen("unacked") == 1  # acks_late: the broker keeps the message, to redeliver it later
    assert ModelVersion.objects.filter(model__source_repository_url=remote.url).count() == done
    probe = raw_connection()
    try:
        wait_for(lambda: try_repository_lock(probe, repository.pk), "release of the dead worker's sync lock")
        release_repository_lock(probe, repository.pk)
    finally:
        probe.close()

    worker = start_worker()
    assert request_sync(cast, repository) is True
    run = wait_for(lambda: finished_run(repository, exclude=[interrupted.pk]), "second sync run", worker=worker)

    assert run.status == SyncStatus.SUCCEEDED, (run.errors, run.warnings)
    assert run.created == total - done
    assert git_versions(repository) == sorted(expected)
    version_ids = {
        str(pk)
        for pk in ModelVersion.objects.filter(model__source_repository_url=remote.url).values_list("pk", flat=True)
    }
    created = Counter(AuditEvent.objects.filter(action=Action.VERSION_CREATED).values_list("target_id", flat=True))
    assert set(created) == version_ids
    assert set(created.values()) == {1}
    assert AuditEvent.objects.filter(action=Action.MODEL_REGISTERED).count() == 1
    interrupted.refresh_from_db()
    assert (interrupted.status, interrupted.errors) == (SyncStatus.FAILED, [INTERRUPTED])
    assert interrupted.finished_at is not None


@worker_test
def test_requests_while_a_sync_holds_the_lock_send_one_message(cast, remote, broker, start_worker):
    remote.commit("declare", {"artifacts.yaml": ARTIFACTS})
    remote.tag("churn@v1.0.0")
    repository = make_repository(cast, remote)
    holder = raw_connection()  # another sync, as far as the portal can tell
    try:
        assert try_repository_lock(holder, repository.pk)
        trail = Trail()

        assert request_sync(cast, repository) is True
        assert request_sync(cast, repository) is False

        assert [task for task, _ in queued_tasks(broker)] == [SYNC_TASK]
        assert [e.changes["coalesced"] for e in trail.events(action=Action.GIT_SYNC_REQUESTED)] == [
            [None, False],
            [None, True],
        ]
        release_repository_lock(holder, repository.pk)
    finally:
        holder.close()

    worker = start_worker()
    run = wait_for(lambda: finished_run(repository), "finished sync run", worker=worker)

    assert run.status == SyncStatus.SUCCEEDED, (run.errors, run.warnings)
    assert git_versions(repository) == [("churn", "v1.0.0")]
    assert broker.llen(QUEUE) == 0
    assert SyncRun.objects.filter(repository=repository).count() == 1
    repository.refresh_from_db()
    assert repository.sync_queued_at is None  # nothing left to re-queue


# -- the beat entry point, in-process -----------------------------------------------------------------------


@pytest.mark.django_db
def test_beat_queues_one_sync_per_enabled_repository(cast, tmp_path):
    for name in ("alpha", "beta", "gamma"):
        work = Work(tmp_path / name)
        work.commit("start")
        services.repository_create(
            actor=Actor.of(cast.admin), team=cast.team_a, name=name, url=work.url, enabled=name != "gamma"
        )

    assert sync_enabled_repositories_task.delay().get() == 2  # eager: each sync runs as it is queued

    runs = SyncRun.objects.order_by("repository__name")
    assert [(r.repository.name, r.trigger, r.requested_by, r.status) for r in runs] == [
        ("alpha", Trigger.SCHEDULE, "beat", SyncStatus.SUCCEEDED),
        ("beta", Trigger.SCHEDULE, "beat", SyncStatus.SUCCEEDED),
    ]


@pytest.mark.django_db
def test_beat_skips_a_repository_whose_sync_is_already_queued(cast, tmp_path):
    for name in ("alpha", "beta"):
        work = Work(tmp_path / name)
        work.commit("start")
        services.repository_create(actor=Actor.of(cast.admin), team=cast.team_a, name=name, url=work.url)
    services.claim_queue_slot(GitRepository.objects.get(name="alpha").pk)  # a "Sync now" still waiting

    assert sync_enabled_repositories_task() == 1

    assert list(SyncRun.objects.values_list("repository__name", flat=True)) == ["beta"]


@pytest.mark.django_db(transaction=True)  # the scheduler commits and closes connections, as the beat process
def test_the_git_sync_schedule_is_a_database_entry_beat_runs():
    PeriodicTask.objects.filter(name=schedule.TASK_NAME).delete()  # flushed by earlier transactional tests
    schedule.ensure_periodic_sync()  # what migration gitsync 0002 runs

    scheduler = DatabaseScheduler(app=app)

    entry = PeriodicTask.objects.get(name="sync-git-repositories")
    assert entry.task == "apps.gitsync.tasks.sync_enabled_repositories_task"
    assert entry.enabled
    assert (entry.interval.every, entry.interval.period) == (settings.GITSYNC_INTERVAL_SECONDS, "seconds")
    assert scheduler.schedule["sync-git-repositories"].task == entry.task
    assert admin.site.is_registered(PeriodicTask)  # so it can be paused or changed in the admin


@pytest.mark.django_db(transaction=True)
def test_an_interval_or_pause_set_in_the_admin_survives_beat_restarts_and_migrations():
    PeriodicTask.objects.filter(name=schedule.TASK_NAME).delete()
    schedule.ensure_periodic_sync()
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.filter(name=schedule.TASK_NAME).update(interval=every_minute)

    DatabaseScheduler(app=app)
    schedule.ensure_periodic_sync()
    assert PeriodicTask.objects.get(name=schedule.TASK_NAME).interval.every == 60

    PeriodicTask.objects.filter(name=schedule.TASK_NAME).update(enabled=False)
    scheduler = DatabaseScheduler(app=app)
    assert not PeriodicTask.objects.get(name=schedule.TASK_NAME).enabled
    assert schedule.TASK_NAME not in scheduler.schedule
