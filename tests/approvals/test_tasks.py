"""Notifications after commit and the expiry sweep: thin tasks that load by id and call a service."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.approvals import services, tasks
from apps.approvals.exceptions import ApprovalError
from apps.approvals.models import DeploymentRequest, RequestState
from apps.audit.actors import Actor

from .conftest import decide, reload, request_production

APPROVERS = ["bo@example.com", "rita@example.com", "sam@example.com"]


def recipients(mailoutbox):
    return sorted(address for message in mailoutbox for address in message.to)


def test_submission_mails_every_eligible_approver_but_not_the_requester_after_commit(
    cast, envs, v1, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        request = request_production(cast, v1, envs)
    assert mailoutbox == []  # nothing leaves before the transaction commits

    for callback in callbacks:
        callback()

    assert recipients(mailoutbox) == APPROVERS
    message = mailoutbox[0]
    assert message.subject == "[GovPortal] Approval needed: Retail Scorecard 1.0.0 → production"
    assert "Dana Tester asks to deploy Retail Scorecard 1.0.0 to production." in message.body
    assert "Step 1: Model risk review (needs 2)" in message.body
    assert f"/approvals/requests/{request.pk}/" in message.body


def test_a_refused_submission_mails_nobody(cast, envs, scorecard, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ApprovalError):
        services.request_deployment(actor=Actor.of(cast.dana), version=scorecard.versions.first(),
                                    environment=envs.staging, justification="No policy there.")  # fmt: skip

    assert mailoutbox == []


def test_an_unprotected_environment_mails_the_requester_the_approval(
    cast, envs, v1, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.request_deployment(actor=Actor.of(cast.dana), version=v1, environment=envs.development,
                                              justification="Try it.")  # fmt: skip

    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["dana@example.com"], f"[GovPortal] Request #{request.pk} approved")
    ]
    assert "is approved." in mailoutbox[0].body


def test_withdrawal_mails_the_requester(cast, envs, v1, mailoutbox, django_capture_on_commit_callbacks):
    request = request_production(cast, v1, envs)

    with django_capture_on_commit_callbacks(execute=True):
        services.deployment_request_cancel(actor=Actor.of(cast.dana), request=request)

    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["dana@example.com"], f"[GovPortal] Request #{request.pk} cancelled")
    ]


def test_the_expiry_task_expires_what_is_due_and_mails_the_requester(
    cast, envs, v1, v2, mailoutbox, django_capture_on_commit_callbacks
):
    due = request_production(cast, v1, envs)
    fresh = request_production(cast, v2, envs)
    DeploymentRequest.objects.filter(pk=due.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        expired = tasks.deployment_request_expire_due_task.delay().get()

    assert expired == 1
    assert (reload(due).state, reload(fresh).state) == (RequestState.EXPIRED, RequestState.PENDING)
    assert [(m.to, m.subject) for m in mailoutbox] == [(["dana@example.com"], f"[GovPortal] Request #{due.pk} expired")]


def test_tasks_return_quietly_when_their_object_is_gone_or_moved_on(cast, envs, v1, mailoutbox):
    request = request_production(cast, v1, envs)
    step = request.steps.get(order=2)  # still waiting: nobody is asked yet

    assert tasks.notify_step_opened_task(999_999) == 0
    assert tasks.notify_request_closed_task(999_999) == 0
    assert tasks.notify_step_opened_task(step.pk) == 0
    assert tasks.notify_request_closed_task(request.pk) == 0  # still open: no outcome to tell
    assert mailoutbox == []


def test_approvers_without_an_e_mail_address_are_skipped(cast, envs, v1, mailoutbox):
    cast.sam.email = ""
    cast.sam.save()
    request = request_production(cast, v1, envs)

    sent = tasks.notify_step_opened_task(request.steps.get(order=1).pk)

    assert sent == 2
    assert recipients(mailoutbox) == ["bo@example.com", "rita@example.com"]


def test_a_team_step_mails_the_named_teams_approvers_and_admins(
    cast, envs, scorecard, mailoutbox, django_capture_on_commit_callbacks
):
    services.policy_save(
        actor=Actor.of(cast.admin), name="Staging", environment=envs.staging, risk_tiers=["high"],
        steps=[{"name": "Team review", "approver_kind": "team", "team": cast.team_a, "quorum": 1}],
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        services.request_deployment(actor=Actor.of(cast.alice), version=scorecard.versions.first(),
                                    environment=envs.staging, justification="Mine.")  # fmt: skip

    assert recipients(mailoutbox) == APPROVERS  # alice is an admin of the team, but she asked


@pytest.mark.django_db(transaction=True)
def test_each_opened_step_and_the_outcome_are_mailed_in_turn(cast, envs, v1, mailoutbox):
    # Real commits: on_commit callbacks (and the eager tasks they start) run as each service commits.
    request = request_production(cast, v1, envs)
    assert recipients(mailoutbox) == APPROVERS

    decide(cast.rita, request)
    assert len(mailoutbox) == 3  # one approval of two: nobody new to ask

    decide(cast.sam, request)
    assert recipients(mailoutbox[3:]) == ["bo@example.com"]
    assert mailoutbox[3].subject.startswith("[GovPortal] Approval needed")
    assert "Step 2: Business owner sign-off (needs 1)" in mailoutbox[3].body

    decide(cast.bo, request)
    assert [(m.to, m.subject) for m in mailoutbox[4:]] == [
        (["dana@example.com"], f"[GovPortal] Request #{request.pk} approved")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rejection_is_mailed_to_the_requester(cast, envs, v1, mailoutbox):
    request = request_production(cast, v1, envs)
    mailoutbox.clear()

    decide(cast.rita, request, "reject", comment="Holdout AUC dropped.")

    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["dana@example.com"], f"[GovPortal] Request #{request.pk} rejected")
    ]
