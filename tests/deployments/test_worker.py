"""Rollouts on a real Celery worker over Redis: a worker killed after it pushed is finished by the next, once.

The worker, the broker and their cleanup are tests/workers.py's (shared with the Git sync worker tests): PostgreSQL,
Redis database CELERY_TEST_BROKER_URL (default 7), committed rows. The GitOps repository is a local working
repository that accepts pushes to its branch; a `post-receive` hook in it tells the test when a push has landed and
holds the pusher until the test lets it go, so the test can catch the worker between "pushed" and "recorded"
without guessing at timings.
"""

import pytest
from django.db import transaction
from django.utils import timezone

from apps.approvals.models import DeploymentRequest
from apps.approvals.signals import request_approved
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from apps.deployments.models import Rollout, RolloutStatus
from apps.deployments.tasks import observe_due_targets_task, rollout_task
from tests import workers
from tests.workers import queued_tasks, raw_connection, task_result, wait_for, worker_sessions

from .conftest import DIGEST_A, add_target, approve, manifest

ROLLOUT_TASK = "apps.deployments.tasks.rollout_task"
HOLD = """#!/bin/sh
# The branch has moved: say so, then hold the pusher (at most 60 s) until the test lets it go.
touch '{pushed}'
i=0
while [ ! -e '{release}' ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
"""

worker_test = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker():
    with workers.broker() as client:
        yield client


@pytest.fixture
def start_worker(broker, mirror_dir, signing_key, tmp_path):
    """Workers that keep their results in Redis (so the test can read what a task returned); killed at the end."""
    with workers.workers(mirror_dir=mirror_dir, signing_key=signing_key, tmp_path=tmp_path, label="rollout") as start:
        yield lambda **env: start(CELERY_RESULT_BACKEND=workers.BROKER_URL, **env)


@pytest.fixture
def live(cast, models, envs, gitops):
    """1.0.0 declared in production's manifest, a GitOps target on it, and 1.1.0 ready to be approved."""
    gitops.commit("Deploy 1.0.0", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    target = add_target(cast, envs, gitops)
    return target, models.scorecard.versions.get(version="1.1.0")


def deploy_commits(gitops, request) -> list[str]:
    """The commits on the GitOps branch that deploy `request` (their message names it in a trailer)."""
    return gitops.git("log", "--format=%H", f"--grep=^GovPortal-Request: {request.pk}$", "main").split()


def rollout_events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_type="deployments.rollout"))


def rollout_of(request) -> Rollout:
    return Rollout.objects.get(request=request)


@worker_test
def test_a_worker_killed_after_pushing_is_finished_by_the_next_without_a_second_commit(
    cast, envs, gitops, live, broker, start_worker, tmp_path
):
    _target, version = live
    pushed, release = tmp_path / "pushed", tmp_path / "release"
    hook = gitops.path / ".git" / "hooks" / "post-receive"
    hook.write_text(HOLD.format(pushed=pushed, release=release))
    hook.chmod(0o755)
    worker = start_worker(ROLLOUT_LEASE_SECONDS="2")  # its claim runs out soon after it dies

    request = approve(cast, version, envs.production)  # approved on submit: the rollout is queued on commit

    # The push has landed and the worker waits in the hook. Hold the audit chain head, which recording the success
    # must lock, then let the worker go: it stops exactly between "pushed" and "recorded". Kill it there.
    wait_for(pushed.exists, "push to the GitOps repository", worker=worker)
    bystander = raw_connection()
    try:
        bystander.autocommit = False
        with bystander.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {ChainHead._meta.db_table} WHERE id = 1 FOR UPDATE")
            release.touch()
            wait_for(lambda: worker_sessions(waiting_on_lock=True), "worker waiting to record success", worker=worker)
            assert len(deploy_commits(gitops, request)) == 1
            worker.kill()
        bystander.rollback()  # the dead worker's session wakes, finds its client gone and rolls back
    finally:
        bystander.close()
    workers.end_worker_sessions()

    rollout = rollout_of(request)
    assert (rollout.status, rollout.attempts) == (RolloutStatus.RUNNING, 1)  # nobody was left to finish it
    assert rollout_events(Action.DEPLOYMENT_SUCCEEDED) == []
    assert broker.hlen("unacked") == 1  # acks_late: Redis would redeliver it only after its visibility timeout
    wait_for(lambda: rollout_of(request).claimed_until < timezone.now(), "end of the dead worker's lease")

    # A new worker, and the scheduler's sweep sent through the broker: it queues the stalled rollout again.
    worker = start_worker()
    sweep = observe_due_targets_task.delay()
    rollout = wait_for(
        lambda: (r := rollout_of(request)).status in (RolloutStatus.SUCCEEDED, RolloutStatus.FAILED) and r,
        "rollout finished by the second worker",
        worker=worker,
    )

    assert (rollout.status, rollout.attempts) == (RolloutStatus.SUCCEEDED, 2), rollout.detail
    assert "already declare 1.1.0" in rollout.detail
    assert len(deploy_commits(gitops, request)) == 1
    assert rollout.reference == gitops.git("rev-parse", "main")
    assert len(rollout_events(Action.DEPLOYMENT_SUCCEEDED)) == 1
    assert len(rollout_events(Action.DEPLOYMENT_STARTED)) == 2  # one per attempt, the dead one's included
    assert task_result(sweep.id).ready()
    verification = verify_chain()
    assert verification.ok, str(verification)


@worker_test
def test_approving_again_and_running_the_task_again_on_the_worker_deploys_once(
    cast, envs, gitops, live, broker, start_worker
):
    _target, version = live
    request = approve(cast, version, envs.production)
    rollout = rollout_of(request)
    with transaction.atomic():  # the approval replayed: the signal again, as the approving transaction sends it
        request_approved.send(sender=DeploymentRequest, request=request, actor=Actor.of(cast.rita))
    again = rollout_task.delay(rollout.pk)  # and the task sent a second time, as a redelivery would

    assert [args for task, args in queued_tasks(broker) if task == ROLLOUT_TASK] == [[rollout.pk], [rollout.pk]]
    worker = start_worker()
    result = task_result(again.id)
    wait_for(result.ready, "second rollout task", worker=worker)  # one worker, one queue: the first ran before it

    assert result.result is None  # nothing to claim: the rollout was done
    rollout.refresh_from_db()
    assert (rollout.status, rollout.attempts) == (RolloutStatus.SUCCEEDED, 1), rollout.detail
    assert len(deploy_commits(gitops, request)) == 1
    assert Rollout.objects.filter(request=request).count() == 1
    assert len(rollout_events(Action.DEPLOYMENT_STARTED)) == len(rollout_events(Action.DEPLOYMENT_SUCCEEDED)) == 1
    verification = verify_chain()
    assert verification.ok, str(verification)
