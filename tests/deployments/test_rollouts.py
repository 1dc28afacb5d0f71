"""An approved request deploys itself through the GitOps target, exactly once; break-glass stays on the record."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.approvals import services as approvals
from apps.approvals.models import DeploymentRequest
from apps.audit.actors import Actor
from apps.deployments import breakglass, rollouts, tasks
from apps.deployments.adapters import gitops as gitops_adapter
from apps.deployments.models import BreakGlass, DriftState, Rollout, RolloutStatus
from apps.deployments.observing import observe_target
from apps.inventory import services as inventory
from tests.conftest import PASSWORD, Trail

from .conftest import DIGEST_A, add_target, approve, manifest

NEW_DIGEST = "d" * 64


def commits(work) -> list[str]:
    return work.git("log", "--format=%H", "main").split()


def declared(work, path="prod/scorecard.yaml") -> str:
    return (work.path / path).read_text()


@pytest.fixture
def live(cast, models, envs, gitops):
    """1.0.0 approved and running in production through the GitOps target; 1.1.0 (a new artifact) registered."""
    scorecard = models.scorecard
    approve(cast, scorecard.versions.get(version="1.0.0"), envs.production)
    gitops.commit("Deploy 1.0.0", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    target = add_target(cast, envs, gitops)
    observe_target(target.pk)
    with transaction.atomic():
        inventory.model_version_create(
            actor=Actor.of(cast.dana), model=scorecard, version="1.2.0", artifact_digest=NEW_DIGEST,
            artifact_uri="s3://models/scorecard/1.2.0", model_card="# Retail Scorecard\n\nRetail credit decisions.\n",
        )  # fmt: skip
    return target, scorecard.versions.get(version="1.2.0")


def test_an_approval_commits_the_manifest_change_and_the_next_observation_confirms_it(
    cast, envs, gitops, live, django_capture_on_commit_callbacks
):
    _target, version = live
    trail, before = Trail(), commits(gitops)

    with django_capture_on_commit_callbacks(execute=True):
        request = approve(cast, version, envs.production)

    after = commits(gitops)
    assert len(after) == len(before) + 1
    text = declared(gitops)
    assert 'govportal.io/version: "1.2.0"' in text and f'govportal.io/digest: "sha256:{NEW_DIGEST}"' in text
    message = gitops.git("log", "-1", "--format=%B")
    assert f"GovPortal-Request: {request.pk}" in message
    assert f"Subject hash: {request.subject_hash}" in message
    rollout = Rollout.objects.get(request=request)
    assert (rollout.status, rollout.reference) == (RolloutStatus.SUCCEEDED, after[0])
    actions = [a for a in trail.actions() if a.startswith("deployment.")]
    assert actions.count("deployment.started") == actions.count("deployment.succeeded") == 1
    assert set(actions) == {"deployment.started", "deployment.succeeded", "deployment.observed"}
    state = DriftState.objects.get(model=version.model, environment=envs.production)
    assert (state.status, state.running_label) == ("in_sync", "1.2.0")


def test_the_commit_names_the_approvers_in_trailers(
    cast, models, envs, gitops, live, django_capture_on_commit_callbacks
):
    _target, version = live
    with transaction.atomic():
        inventory.environment_save(actor=Actor.of(cast.admin), environment=envs.production, protected=True)
        approvals.policy_save(actor=Actor.of(cast.admin), name="Production", environment=envs.production,
                              risk_tiers=["high"], steps=[
            {"name": "Model risk review", "approver_kind": "role", "role": "approver", "quorum": 2,
             "requires_signature": False, "due_hours": 24},
        ])  # fmt: skip
    with transaction.atomic():
        request = approvals.request_deployment(
            actor=Actor.of(cast.dana), version=version, environment=envs.production, justification="Release."
        )
    for approver in (cast.rita, cast.sam):
        with django_capture_on_commit_callbacks(execute=True):
            approvals.deployment_request_decide(actor=Actor.of(approver), request=request, outcome="approve",
                                                comment="", password=PASSWORD)  # fmt: skip

    message = gitops.git("log", "-1", "--format=%B")
    assert "Approved-by: Rita Tester <rita@example.com>" in message
    assert "Approved-by: Sam Tester <sam@example.com>" in message
    assert DeploymentRequest.objects.get(pk=request.pk).state == "approved"


def test_approving_twice_or_running_the_task_again_deploys_once(
    cast, envs, gitops, live, django_capture_on_commit_callbacks
):
    _target, version = live
    with django_capture_on_commit_callbacks(execute=True):
        request = approve(cast, version, envs.production)
    count = len(commits(gitops))
    rollout = Rollout.objects.get(request=request)

    with transaction.atomic():  # the signal again (a replayed approval): the (request, target) row exists
        assert rollouts.rollouts_create(request=request) == []
    assert tasks.rollout_task.delay(rollout.pk).get() is None  # done: nothing to claim

    assert len(commits(gitops)) == count
    assert Rollout.objects.filter(request=request).count() == 1


def test_a_rollout_whose_worker_died_after_pushing_is_finished_without_a_second_commit(cast, envs, gitops, live):
    target, version = live
    with transaction.atomic():
        request = approvals.request_deployment(
            actor=Actor.of(cast.dana), version=version, environment=envs.production, justification="Release."
        )  # the rollout is queued on commit, which this test never runs
    rollout = Rollout.objects.get(request=request)
    claimed = rollouts._claim(rollout.pk)
    gitops_adapter.deploy(target, None, rollouts._order(claimed))  # the worker pushed … and was killed
    count = len(commits(gitops))
    Rollout.objects.filter(pk=rollout.pk).update(claimed_until=rollout.created_at)  # its lease runs out

    assert rollouts.rollouts_requeue_stalled() == 1  # the scheduler's sweep queues it again (run at once here)

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.SUCCEEDED and "already declare 1.2.0" in rollout.detail
    assert len(commits(gitops)) == count
    assert rollout.attempts == 2


def test_a_branch_that_moved_meanwhile_is_read_again_and_the_change_redone(
    cast, envs, gitops, live, monkeypatch, django_capture_on_commit_callbacks
):
    _target, version = live
    real_push = gitops_adapter.git.Mirror.push
    moved = []

    def push_after_someone_else(self, commit, branch, **kwargs):
        if not moved:  # another engineer pushes first: this push is not a fast-forward any more
            moved.append(gitops.commit("Unrelated change", {"prod/README.md": "hello\n"}))
        return real_push(self, commit, branch, **kwargs)

    monkeypatch.setattr(gitops_adapter.git.Mirror, "push", push_after_someone_else)
    with django_capture_on_commit_callbacks(execute=True):
        request = approve(cast, version, envs.production)

    rollout = Rollout.objects.get(request=request)
    assert rollout.status == RolloutStatus.SUCCEEDED
    history = commits(gitops)
    assert moved[0] in history and history[0] == rollout.reference  # the deploy sits on top of the other change
    assert 'govportal.io/version: "1.2.0"' in declared(gitops)


def test_a_permanent_failure_is_on_the_rollout_and_mailed_to_the_requester(
    cast, models, envs, gitops, django_capture_on_commit_callbacks
):
    gitops.commit("Other model only", {"prod/other.yaml": manifest("card-fraud-detector", "3.0.0", name="fraud")})
    add_target(cast, envs, gitops)
    trail, mail.outbox = Trail(), []

    with django_capture_on_commit_callbacks(execute=True):
        request = approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)

    rollout = Rollout.objects.get(request=request)
    assert rollout.status == RolloutStatus.FAILED
    assert "no manifest under prod/**/*.yaml declares retail-scorecard" in rollout.detail
    assert "deployment.failed" in trail.actions()
    failed = [m for m in mail.outbox if "Rollout failed" in m.subject]
    assert [m.to for m in failed] == [["dana@example.com"]]


def test_break_glass_deploys_stays_open_through_a_rejection_and_closes_on_post_hoc_approval(
    cast, envs, gitops, live, django_capture_on_commit_callbacks
):
    _target, version = live
    trail = Trail()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        glass = breakglass.break_glass_record(actor=Actor.of(cast.admin), version=version, environment=envs.production,
                                              reason="Fraud wave: the 1.2.0 rules stop it.", deploy=True)  # fmt: skip
    assert 'govportal.io/version: "1.2.0"' in declared(gitops)
    assert DriftState.objects.get(model=version.model).status == "unapproved"  # runs with no approval: an exception
    assert BreakGlass.objects.open().count() == 1

    with transaction.atomic():
        request = approvals.deployment_request_create(
            actor=Actor.of(cast.dana), version=version, environment=envs.production, justification="Post-hoc."
        )
        approvals.deployment_request_cancel(actor=Actor.of(cast.dana), request=request)  # fmt: skip
    breakglass.post_hoc_settled(DeploymentRequest.objects.get(pk=request.pk))
    glass.refresh_from_db()
    assert glass.is_open and glass.post_hoc_outcome == "cancelled"

    with django_capture_on_commit_callbacks(execute=True):
        approve(cast, version, envs.production)
    glass.refresh_from_db()
    assert not glass.is_open and glass.post_hoc_outcome == "approved"
    assert DriftState.objects.get(model=version.model).status == "in_sync"
    assert "deployment.break_glass" in trail.actions() and trail.actions().count("deployment.break_glass_post_hoc") == 2


@pytest.mark.parametrize(
    ("who", "reason", "deploy", "error"),
    [
        ("alice", "Outage.", False, PermissionDenied),
        ("admin", "   ", False, ValidationError),
        ("admin", "x" * 5001, False, ValidationError),
        ("admin", "Outage.", True, ValidationError),  # no target here can deploy
    ],
)
def test_break_glass_refusals_write_nothing(cast, models, envs, who, reason, deploy, error):
    trail = Trail()
    with pytest.raises(error), transaction.atomic():
        breakglass.break_glass_record(actor=Actor.of(getattr(cast, who)), version=models.scorecard.versions.first(),
                                      environment=envs.production, reason=reason, deploy=deploy)  # fmt: skip
    assert not BreakGlass.objects.exists() and trail.actions() == []


def test_the_compliance_pdf_lists_break_glass_with_its_post_hoc_outcome(
    client, cast, models, envs, django_capture_on_commit_callbacks
):
    from tests.compliance.test_reports import pages_of, run_report

    version = models.scorecard.versions.get(version="1.1.0")
    with transaction.atomic():
        breakglass.break_glass_record(
            actor=Actor.of(cast.admin), version=version, environment=envs.production, deploy=False,
            reason="Outage: 1.0.0 crashed on the new feature store.",
        )  # fmt: skip
        request = approvals.deployment_request_create(
            actor=Actor.of(cast.dana), version=version, environment=envs.production, justification="Post-hoc."
        )
        approvals.deployment_request_cancel(actor=Actor.of(cast.dana), request=request)  # fmt: skip
    breakglass.post_hoc_settled(DeploymentRequest.objects.get(pk=request.pk))

    _export, body = run_report(client, django_capture_on_commit_callbacks, cast.admin)

    text = " ".join(pages_of(body))
    section = text[text.index("5. Emergency (break-glass) deployments") :]
    assert "Retail Scorecard 1.1.0" in section and "Outage: 1.0.0 crashed on the new feature store." in section
    assert f"request #{request.pk} cancelled" in section and "still open" in section


def test_a_transient_failure_waits_out_its_backoff_and_the_sweep_does_not_skip_it(cast, models, envs, tmp_path):
    import socket
    from datetime import timedelta

    from django.utils import timezone

    from apps.deployments import services

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here: connection refused, a transient failure
    with transaction.atomic():
        services.target_save(
            actor=Actor.of(cast.admin),
            name="down",
            environment=envs.production,
            team=cast.team_a,
            kind="gitops",
            config={"url": f"https://127.0.0.1:{port}/d.git", "paths": ["*.yaml"]},
        )
        request = approvals.request_deployment(
            actor=Actor.of(cast.dana),
            environment=envs.production,
            version=models.scorecard.versions.first(),
            justification="Go.",
        )
    rollout = Rollout.objects.get(request=request)

    with pytest.raises(rollouts.TransientRolloutError) as exc:
        rollouts.rollout_run(rollout.pk)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.QUEUED and rollout.attempts == 1
    assert 30 <= exc.value.delay <= 37 and rollout.retry_at > timezone.now()
    assert "retrying: could not deploy through the repository" in rollout.detail

    assert rollouts.rollout_run(rollout.pk) is None  # a duplicate message: too early, nothing claimed
    later = rollout.created_at + rollouts.lease() + timedelta(seconds=1)
    assert rollouts.rollouts_requeue_stalled(now=later) == 0  # waiting for its retry is not being lost
    assert rollouts.rollouts_requeue_stalled(now=rollout.retry_at + rollouts.lease() + timedelta(seconds=1)) == 1
