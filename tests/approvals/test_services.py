"""Approval services without decisions: policies, submission and its checks, withdrawal, expiry, artifact changes."""

import re
from datetime import date, timedelta
from importlib import import_module

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.approvals import services
from apps.approvals.exceptions import ApprovalError, ApprovalForbidden
from apps.approvals.models import (
    ApprovalPolicy,
    Decision,
    DeploymentRequest,
    PolicyStep,
    RequestState,
    RequestStep,
    StepState,
)
from apps.approvals.signals import request_approved
from apps.audit.actors import Actor, ActorKind
from apps.audit.models import AuditEvent
from apps.inventory import services as inventory
from tests.conftest import DIGEST, PASSWORD

from .conftest import BUSINESS_SIGN_OFF, MODEL_RISK_REVIEW, Trail, production_steps, reload, request_production


def counts():
    return {
        "requests": DeploymentRequest.objects.count(),
        "steps": RequestStep.objects.count(),
        "policies": ApprovalPolicy.objects.count(),
        "policy_steps": PolicyStep.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def save_policy(cast, envs, **fields):
    fields = {
        "name": "Test policy", "environment": envs.production, "risk_tiers": ["high"],
        "steps": [{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": 1}],
    } | fields  # fmt: skip
    return services.policy_save(actor=Actor.of(cast.admin), **fields)


# --- policies ---------------------------------------------------------------------------------------------------------


def test_creating_a_policy_is_audited_with_its_steps(cast, envs, scorecard):
    trail = Trail()

    policy = save_policy(cast, envs, name="Staging review", environment=envs.staging, risk_tiers=["medium", "high"])

    (event,) = trail.events()
    assert event.action == "policy.created"
    assert (event.actor_label, event.target_id) == ("admin", str(policy.pk))
    assert event.changes["name"] == [None, "Staging review"]
    assert event.changes["environment"] == [None, "staging"]
    assert event.changes["risk_tiers"] == [None, ["high", "medium"]]
    assert [step["name"] for step in event.changes["steps"][1]] == ["Review"]
    assert policy.revision == 1


def test_only_superusers_save_policies(cast, envs, scorecard):
    before = counts()

    for name in ("alice", "rita", "dana"):
        with pytest.raises(PermissionDenied, match=re.escape("Only administrators can edit approval policies.")):
            services.policy_save(actor=Actor.of(getattr(cast, name)), name="Mine", steps=production_steps(cast))

    assert counts() == before


def test_editing_a_policy_bumps_its_revision_and_audits_the_diff(cast, envs, scorecard):
    policy = save_policy(cast, envs, steps=production_steps(cast))
    trail = Trail()

    edited = save_policy(cast, envs, policy=policy, expiry_days=7, steps=production_steps(cast, quorum=1))

    assert edited.revision == 2
    (event,) = trail.events()
    assert event.action == "policy.changed"
    assert set(event.changes) == {"expiry_days", "steps", "revision"}
    assert event.changes["expiry_days"] == [14, 7]
    assert event.changes["revision"] == [1, 2]
    old_steps, new_steps = event.changes["steps"]
    assert [s["quorum"] for s in old_steps] == [2, 1]
    assert [s["quorum"] for s in new_steps] == [1, 1]
    assert list(edited.steps.values_list("quorum", flat=True)) == [1, 1]


def test_saving_a_policy_unchanged_keeps_its_revision_and_records_nothing(cast, envs, scorecard):
    policy = save_policy(cast, envs, steps=production_steps(cast))
    trail = Trail()

    same = save_policy(cast, envs, policy=policy, steps=production_steps(cast))

    assert same.revision == 1
    assert trail.events() == []
    assert [s.name for s in same.steps.all()] == [MODEL_RISK_REVIEW, BUSINESS_SIGN_OFF]


@pytest.mark.parametrize(
    ("steps", "tiers", "message"),
    [
        # Team A has three approvers (rita, sam, bo): a quorum of four can never be reached.
        ([{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": 4}], ["high"],
         "Step 1 (Review) needs 4 distinct eligible approvers in Credit Risk who are not the requester"),
        # alice is team A's only admin and may request deployments herself: she cannot approve her own.
        ([{"name": "Admin review", "approver_kind": "role", "role": "admin", "quorum": 1}], ["high"],
         "Step 1 (Admin review) needs 1 distinct eligible approver in Credit Risk who are not the requester"),
        # bo would have to sit in both steps; one person decides at most one step.
        ([{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": 3},
          {"name": "Sign-off", "approver_kind": "users", "users": "bo", "quorum": 1}], ["high"],
         "Step 2 (Sign-off) needs 1 distinct eligible approver in Credit Risk who are not the requester and decide "
         "no other step; there are not enough. Lower the quorum or name more approvers."),
        ([{"name": "Both", "approver_kind": "users", "users": "bo", "quorum": 2}], ["high"],
         "Step 1 (Both) needs 2 distinct eligible approvers in Credit Risk who are not the requester"),
        # Fraud's critical-risk detector: Fraud has no approvers at all.
        ([{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": 1}], ["critical"],
         "Step 1 (Review) needs 1 distinct eligible approver in Fraud"),
        ([{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": 1}], [],
         "Step 1 (Review) needs 1 distinct eligible approver in Fraud"),
    ],
)  # fmt: skip
def test_a_policy_that_cannot_be_satisfied_is_refused_and_nothing_is_written(cast, envs, scorecard, steps, tiers,
                                                                              message):  # fmt: skip
    for step in steps:
        if step.get("users") == "bo":
            step["users"] = [cast.bo]
    before = counts()

    with pytest.raises(ValidationError) as refused:
        save_policy(cast, envs, name="Impossible", risk_tiers=tiers, steps=steps)

    assert message in " ".join(refused.value.message_dict["steps"])
    assert counts() == before


def test_the_production_policy_cannot_be_saved_again_once_fraud_registers_a_critical_model(cast, envs, policy,
                                                                                            models):  # fmt: skip
    # The fixture saved it before the detector existed; a change now is checked against every governed team.
    with pytest.raises(ValidationError, match="in Fraud"):
        services.policy_save(
            actor=Actor.of(cast.admin), policy=policy, name=policy.name, environment=envs.production,
            risk_tiers=["high", "critical"], expiry_days=7, steps=production_steps(cast),
        )  # fmt: skip
    assert reload_policy(policy).revision == 1


def reload_policy(policy):
    return ApprovalPolicy.objects.get(pk=policy.pk)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"steps": []}, "steps", "A policy needs at least one approval step."),
        ({"risk_tiers": ["extreme"]}, "risk_tiers", "Unknown risk tier extreme"),
        ({"expiry_days": 0}, "expiry_days", "Requests expire after 1 to 365 days."),
        ({"metric_thresholds": [{"metric": "auc", "op": "=>", "value": 0.8}]}, "metric_thresholds",
         "Unknown operator '=>' for auc"),
        ({"steps": [{"name": " ", "approver_kind": "role", "role": "approver", "quorum": 1}]}, "steps",
         "Step 1 needs a name"),
        ({"steps": [{"name": "R", "approver_kind": "role", "role": "approver", "quorum": 0}]}, "steps",
         "Step 1 needs a quorum of at least 1."),
        ({"steps": [{"name": "R", "approver_kind": "team", "quorum": 1}]}, "steps", "Step 1 names no team."),
        ({"steps": [{"name": "R", "approver_kind": "users", "users": [], "quorum": 1}]}, "steps",
         "Step 1 names no approvers."),
        ({"steps": [{"name": "R", "approver_kind": "role", "role": "boss", "quorum": 1}]}, "steps",
         "Step 1 names no valid role."),
        ({"steps": [{"name": "R", "approver_kind": "role", "role": "viewer", "quorum": 1}]}, "steps",
         "Step 1 names the viewer role, which may not approve (choose approver or admin)."),
    ],
)  # fmt: skip
def test_bad_policy_input_names_the_field_and_writes_nothing(cast, envs, scorecard, fields, field, message):
    before = counts()

    with pytest.raises(ValidationError) as refused:
        save_policy(cast, envs, **fields)

    assert message in " ".join(refused.value.message_dict[field])
    assert counts() == before


def test_editing_a_policy_never_changes_a_request_in_flight(cast, envs, policy, v1, trail):
    request = request_production(cast, v1, envs)
    frozen = dict(request.frozen_policy)
    steps_before = list(request.steps.values("order", "name", "quorum", "approver_kind", "requires_signature"))

    services.policy_save(
        actor=Actor.of(cast.admin), policy=policy, name=policy.name, environment=envs.production,
        risk_tiers=["high"], expiry_days=3,
        steps=[{"name": "Quick look", "approver_kind": "role", "role": "approver", "quorum": 1,
                "requires_signature": False}],
    )  # fmt: skip

    request = reload(request)
    assert reload_policy(policy).revision == 2
    assert request.frozen_policy == frozen
    assert (frozen["revision"], frozen["steps"][0]["quorum"]) == (1, 2)
    assert list(request.steps.values("order", "name", "quorum", "approver_kind", "requires_signature")) == steps_before
    assert trail.actions() == [
        "request.created", "request.submitted", "request.step_opened", "policy.changed",
    ]  # fmt: skip


# --- submission -------------------------------------------------------------------------------------------------------


def test_submitting_to_production_freezes_the_policy_and_opens_the_first_step(cast, envs, policy, v1, trail):
    request = request_production(cast, v1, envs)

    request = reload(request)
    assert request.state == RequestState.PENDING
    assert request.round == 1
    assert request.policy == policy
    assert request.frozen_policy["name"] == "Production high risk"
    assert request.subject["artifact_digest"] == DIGEST
    assert request.subject["environment"] == "production"
    assert len(request.subject_hash) == 64
    assert [c["key"] for c in request.checks] == ["model_card", "digest", "metric:auc"]
    assert all(c["passed"] for c in request.checks)
    assert request.expires_at == request.submitted_at + timedelta(days=14)
    steps = list(request.steps.order_by("order"))
    assert [(s.name, s.state, s.quorum) for s in steps] == [
        (MODEL_RISK_REVIEW, StepState.OPEN, 2), (BUSINESS_SIGN_OFF, StepState.WAITING, 1),
    ]  # fmt: skip
    assert steps[0].due_at == steps[0].opened_at + timedelta(hours=72)
    assert list(steps[1].users.all()) == [cast.bo]
    assert trail.actions() == ["request.created", "request.submitted", "request.step_opened"]
    submitted = trail.events(action="request.submitted")[0]
    assert submitted.changes["policy"] == [None, "Production high risk (revision 1)"]
    assert submitted.request_id == request.pk


def test_a_protected_environment_without_a_policy_refuses_the_request_and_writes_nothing(cast, envs, v1, trail):
    before = counts()

    with pytest.raises(ApprovalError) as refused:
        services.request_deployment(actor=Actor.of(cast.dana), version=v1, environment=envs.staging,
                                    justification="Try staging.")  # fmt: skip

    assert refused.value.code == "no_policy"
    assert refused.value.message.startswith(
        "staging is protected and no approval policy governs high-risk models there, so nothing can be deployed"
    )
    assert counts() == before
    assert trail.events() == []


def test_an_inactive_policy_governs_nothing(cast, envs, policy, v1, trail):
    ApprovalPolicy.objects.filter(pk=policy.pk).update(active=False)

    with pytest.raises(ApprovalError) as refused:
        request_production(cast, v1, envs)

    assert refused.value.code == "no_policy"


def test_an_unprotected_environment_without_a_policy_approves_on_submission(cast, envs, v1, trail):
    announced = []

    def receiver(sender, request, actor, **kwargs):
        announced.append((request.pk, actor.label))

    request_approved.connect(receiver, dispatch_uid="test-approved")
    try:
        request = services.request_deployment(
            actor=Actor.of(cast.dana), version=v1, environment=envs.development, justification="Experiment."
        )
    finally:
        request_approved.disconnect(dispatch_uid="test-approved")

    request = reload(request)
    assert request.state == RequestState.APPROVED
    assert request.closed_at is not None
    assert request.steps.count() == 0
    assert announced == [(request.pk, "dana")]
    assert trail.actions() == ["request.created", "request.submitted", "request.approved"]
    assert trail.events(action="request.approved")[0].changes["reason"] == [
        None, "No approval policy governs development; it is not protected."
    ]  # fmt: skip


def _without_card(cast, scorecard, policy, envs):
    return inventory.model_version_create(actor=Actor.of(cast.dana), model=scorecard, version="1.2.0",
                                          artifact_digest=DIGEST, metrics={"auc": 0.9})  # fmt: skip


def _without_digest(cast, scorecard, policy, envs):
    return inventory.model_version_create(actor=Actor.of(cast.dana), model=scorecard, version="1.2.0",
                                          model_card="# Card", metrics={"auc": 0.9})  # fmt: skip


def _low_auc(cast, scorecard, policy, envs):
    return inventory.model_version_create(
        actor=Actor.of(cast.dana), model=scorecard, version="1.2.0", artifact_digest=DIGEST, model_card="# Card",
        metrics={"auc": 0.79},
    )  # fmt: skip


def _no_auc(cast, scorecard, policy, envs):
    return inventory.model_version_create(
        actor=Actor.of(cast.dana), model=scorecard, version="1.2.0", artifact_digest=DIGEST, model_card="# Card",
        metrics={"f1": 0.9},
    )  # fmt: skip


def _not_promoted(cast, scorecard, policy, envs):
    _require(cast, policy, envs, require_previous_environment=True)
    return scorecard.versions.get(version="1.0.0")


def _validation_overdue(cast, scorecard, policy, envs):
    _require(cast, policy, envs, require_current_validation=True)
    inventory.registered_model_update(actor=Actor.of(cast.dana), model=scorecard, last_validated_on=date(2020, 1, 1),
                                      next_validation_due=date(2021, 1, 1))  # fmt: skip
    return scorecard.versions.get(version="1.0.0")


def _require(cast, policy, envs, **flags):
    services.policy_save(
        actor=Actor.of(cast.admin), policy=policy, name=policy.name, environment=envs.production,
        risk_tiers=["high"], metric_thresholds=policy.metric_thresholds, steps=production_steps(cast), **flags,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("make_version", "reason"),
    [
        (_without_card, "Model card present: The version has no model card."),
        (_without_digest, "Artifact digest present: The version has no artifact SHA-256 digest."),
        (_low_auc, "auc >= 0.8: auc is 0.79"),
        (_no_auc, "auc >= 0.8: The version reports no auc."),
        (_not_promoted, "Promotion order: Not yet approved for staging: promote through it first."),
        (_validation_overdue, "Model validation current: Next validation due 2021-01-01: overdue."),
    ],
)
def test_a_failing_check_blocks_submission_with_the_reason_and_nothing_is_written(
    cast, envs, policy, scorecard, make_version, reason
):
    version = make_version(cast, scorecard, policy, envs)
    before = counts()

    with pytest.raises(ApprovalError) as refused:
        request_production(cast, version, envs)

    assert refused.value.code == "policy_check_failed"
    assert refused.value.message == f"Checks failed: {reason}"
    assert counts() == before


def test_promotion_order_passes_once_the_version_is_approved_for_the_previous_environment(cast, envs, policy, v1):
    _require(cast, policy, envs, require_previous_environment=True)
    services.policy_save(
        actor=Actor.of(cast.admin), name="Staging, no approvers needed", environment=envs.staging,
        steps=[{"name": "Peer look", "approver_kind": "users", "users": [cast.rita], "quorum": 1,
                "requires_signature": False}],
    )  # fmt: skip
    staging = services.request_deployment(actor=Actor.of(cast.dana), version=v1, environment=envs.staging,
                                          justification="Staging first.")  # fmt: skip
    # rita's unsigned decision runs inside this test's transaction (no password to verify outside it).
    services.deployment_request_decide(actor=Actor.of(cast.rita), request=staging, outcome="approve")
    assert reload(staging).state == RequestState.APPROVED

    request = request_production(cast, v1, envs)

    assert {c["key"]: c["detail"] for c in reload(request).checks}["promotion"] == "Approved for staging."


def test_a_policy_a_team_cannot_staff_refuses_submission(cast, envs, policy, models, trail):
    # Fraud registered its critical-risk detector after the policy was saved, and Fraud has no approvers.
    detector_version = models.detector.versions.get()
    inventory.model_version_update(actor=Actor.of(cast.ben), version=detector_version, artifact_digest=DIGEST,
                                   model_card="# Card", metrics={"auc": 0.95})  # fmt: skip
    before = counts()

    with pytest.raises(ApprovalError) as refused:
        request_production(cast, detector_version, envs, who=cast.ben)

    assert refused.value.code == "policy_unsatisfiable"
    assert refused.value.message.startswith(
        "Step 1 (Model risk review) cannot get 2 distinct eligible approvers other than you"
    )
    assert counts() == before


@pytest.mark.parametrize("name", ["vera", "rita", "audrey", "ben"])
def test_only_contributors_and_admins_of_the_team_request_deployments(cast, envs, v1, trail, name):
    with pytest.raises(PermissionDenied, match=re.escape("You may not request deployments of Retail Scorecard.")):
        request_production(cast, v1, envs, who=getattr(cast, name))
    assert trail.events() == []


def test_a_request_needs_a_justification(cast, envs, v1, trail):
    with pytest.raises(ValidationError) as refused:
        request_production(cast, v1, envs, justification="   ")
    assert refused.value.message_dict["justification"] == [
        "Say why this version should be deployed; approvers read it."
    ]
    assert trail.events() == []


def test_one_open_request_per_version_and_environment(cast, envs, v1, trail):
    first = request_production(cast, v1, envs)

    with pytest.raises(ApprovalError) as refused:
        request_production(cast, v1, envs, who=cast.alice)

    assert refused.value.code == "request_already_open"
    assert refused.value.message == f"Request #{first.pk} for {v1} to production is already pending."


def test_only_the_requester_submits_a_draft_and_only_once(cast, envs, v1, trail):
    draft = services.deployment_request_create(actor=Actor.of(cast.dana), version=v1, environment=envs.production,
                                               justification="Draft first.")  # fmt: skip

    with pytest.raises(ApprovalForbidden) as refused:
        services.deployment_request_submit(actor=Actor.of(cast.alice), request=draft)
    assert refused.value.code == "not_requester"

    services.deployment_request_submit(actor=Actor.of(cast.dana), request=draft)
    with pytest.raises(ApprovalError) as again:
        services.deployment_request_submit(actor=Actor.of(cast.dana), request=draft)
    assert again.value.code == "not_draft"
    assert trail.actions() == ["request.created", "request.submitted", "request.step_opened"]


def test_a_draft_submitted_to_a_protected_environment_without_policy_stays_a_draft(cast, envs, v1, trail):
    draft = services.deployment_request_create(actor=Actor.of(cast.dana), version=v1, environment=envs.staging,
                                               justification="Draft first.")  # fmt: skip

    with pytest.raises(ApprovalError, match="staging is protected"):
        services.deployment_request_submit(actor=Actor.of(cast.dana), request=draft)

    assert reload(draft).state == RequestState.DRAFT
    assert trail.actions() == ["request.created"]


def test_request_deployment_creates_and_submits_in_one_transaction(cast, envs, policy, v1, trail, monkeypatch):
    from apps.approvals.services import requests

    def fail(**kwargs):
        raise ApprovalError("boom", code="boom")

    monkeypatch.setattr(requests, "deployment_request_submit", fail)
    before = counts()

    with pytest.raises(ApprovalError, match="boom"):
        requests.request_deployment(actor=Actor.of(cast.dana), version=v1, environment=envs.production,
                                    justification="All or nothing.")  # fmt: skip

    assert counts() == before


# --- withdrawal -------------------------------------------------------------------------------------------------------


def test_the_requester_withdraws_a_pending_request(cast, envs, v1, trail):
    request = request_production(cast, v1, envs)

    services.deployment_request_cancel(actor=Actor.of(cast.dana), request=request, reason="Found a bug.")

    request = reload(request)
    assert request.state == RequestState.CANCELLED
    assert set(request.steps.values_list("state", flat=True)) == {StepState.VOID}
    assert trail.actions()[-1] == "request.cancelled"
    assert trail.events()[-1].changes == {"state": ["pending", "cancelled"], "reason": [None, "Found a bug."]}


@pytest.mark.parametrize("name", ["rita", "alice", "admin"])
def test_nobody_but_the_requester_withdraws(cast, envs, v1, trail, name):
    request = request_production(cast, v1, envs)

    with pytest.raises(ApprovalForbidden, match=re.escape("Only the requester can withdraw this request.")) as refused:
        services.deployment_request_cancel(actor=Actor.of(getattr(cast, name)), request=request)

    assert refused.value.code == "not_requester"
    assert reload(request).state == RequestState.PENDING
    assert trail.actions()[-1] == "request.step_opened"


def test_a_closed_request_cannot_be_withdrawn(cast, envs, v1, trail):
    request = request_production(cast, v1, envs)
    services.deployment_request_cancel(actor=Actor.of(cast.dana), request=request)

    with pytest.raises(ApprovalError, match=re.escape("This request is already cancelled.")) as refused:
        services.deployment_request_cancel(actor=Actor.of(cast.dana), request=request)
    assert refused.value.code == "request_closed"


# --- expiry -----------------------------------------------------------------------------------------------------------


def test_pending_requests_past_their_expiry_expire_and_the_others_stay(cast, envs, v1, v2, trail):
    due = request_production(cast, v1, envs)
    later = request_production(cast, v2, envs)
    later.expires_at = due.expires_at + timedelta(days=1)
    later.save(update_fields=["expires_at"])
    sweep = Trail()

    assert services.deployment_request_expire_due(now=due.expires_at - timedelta(seconds=1)) == 0
    swept_at = timezone.now()
    expired = services.deployment_request_expire_due(now=due.expires_at + timedelta(seconds=1))

    assert expired == 1
    assert reload(due).state == RequestState.EXPIRED
    assert swept_at <= reload(due).closed_at <= timezone.now()  # closed when the sweep ran, not at "now"
    assert reload(later).state == RequestState.PENDING
    (event,) = sweep.events()
    assert (event.action, event.actor_label, event.actor_kind, event.request_id) == (
        "request.expired", "scheduler", ActorKind.SYSTEM, due.pk,
    )  # fmt: skip
    assert services.deployment_request_expire_due(now=due.expires_at + timedelta(seconds=2)) == 0  # idempotent


def test_drafts_and_closed_requests_never_expire(cast, envs, v1, v2, trail):
    draft = services.deployment_request_create(actor=Actor.of(cast.dana), version=v1, environment=envs.production,
                                               justification="Later.")  # fmt: skip
    cancelled = request_production(cast, v2, envs)
    services.deployment_request_cancel(actor=Actor.of(cast.dana), request=cancelled)

    assert services.deployment_request_expire_due(now=cancelled.expires_at + timedelta(days=365)) == 0
    assert reload(draft).state == RequestState.DRAFT
    assert reload(cancelled).state == RequestState.CANCELLED


# --- the artifact changes under a request -----------------------------------------------------------------------------


def test_a_new_artifact_digest_sends_a_pending_request_back_to_draft(cast, envs, v1, trail):
    request = request_production(cast, v1, envs)
    changing = Trail()

    inventory.model_version_update(actor=Actor.of(cast.dana), version=v1, artifact_digest="b" * 64)

    request = reload(request)
    assert request.state == RequestState.DRAFT
    assert set(request.steps.values_list("state", flat=True)) == {StepState.VOID}
    assert changing.actions() == ["version.updated", "request.reset_to_draft"]
    reset = changing.events()[-1]
    assert reset.changes["artifact_digest"] == [DIGEST, "b" * 64]

    services.deployment_request_submit(actor=Actor.of(cast.dana), request=request)

    request = reload(request)
    assert (request.state, request.round) == (RequestState.PENDING, 2)
    assert request.subject["artifact_digest"] == "b" * 64
    assert request.steps.filter(round=2, state=StepState.OPEN).count() == 1


def test_other_version_changes_leave_the_request_alone(cast, envs, v1, v2, trail):
    request = request_production(cast, v1, envs)

    inventory.model_version_update(actor=Actor.of(cast.dana), version=v1, framework="sklearn")
    inventory.model_version_update(actor=Actor.of(cast.dana), version=v2, artifact_digest="c" * 64)

    assert reload(request).state == RequestState.PENDING


# --- every change and its audit event commit together ------------------------------------------------------------


def _submit(cast, envs, v1, pending):
    other = v1.model.versions.get(version="1.1.0")
    draft = services.deployment_request_create(
        actor=Actor.of(cast.dana), version=other, environment=envs.production, justification="Second."
    )
    return lambda: services.deployment_request_submit(actor=Actor.of(cast.dana), request=draft)


def _cancel(cast, envs, v1, pending):
    return lambda: services.deployment_request_cancel(actor=Actor.of(cast.dana), request=pending)


def _decide(cast, envs, v1, pending):
    return lambda: services.deployment_request_decide(
        actor=Actor.of(cast.rita), request=pending, outcome="approve", password=PASSWORD
    )


def _expire(cast, envs, v1, pending):
    return lambda: services.deployment_request_expire_due(now=pending.expires_at + timedelta(seconds=1))


def _reset(cast, envs, v1, pending):
    return lambda: inventory.model_version_update(actor=Actor.of(cast.dana), version=v1, artifact_digest="b" * 64)


def _policy(cast, envs, v1, pending):
    return lambda: save_policy(cast, envs, name="Another", environment=envs.staging)


@pytest.mark.parametrize(
    ("module", "change"),
    [
        ("requests", _submit), ("requests", _cancel), ("decisions", _decide), ("requests", _expire),
        ("requests", _reset), ("policies", _policy),
    ],
)  # fmt: skip
def test_a_service_that_fails_after_recording_leaves_neither_change_nor_event(
    transactional_db, cast, envs, v1, monkeypatch, module, change
):
    pending = request_production(cast, v1, envs)
    act = change(cast, envs, v1, pending)
    service_module = import_module(f"apps.approvals.services.{module}")
    real_record = service_module.record

    def record_then_fail(**kwargs):
        real_record(**kwargs)
        raise RuntimeError("failure after the audit event was written")

    monkeypatch.setattr(service_module, "record", record_then_fail)
    before = counts() | {"decisions": Decision.objects.count()}
    rows = list(DeploymentRequest.objects.order_by("pk").values("pk", "state", "round"))

    assert not transaction.get_connection().in_atomic_block  # the service must open its own transaction
    with pytest.raises(RuntimeError, match="failure after the audit event"):
        act()

    assert counts() | {"decisions": Decision.objects.count()} == before
    assert list(DeploymentRequest.objects.order_by("pk").values("pk", "state", "round")) == rows
    assert reload(pending).version.artifact_digest == DIGEST


def test_promotion_order_needs_an_approval_of_the_same_artifact(cast, envs, v1, trail):
    # development is open and ungoverned: a request there is approved on submission.
    dev_request = services.request_deployment(
        actor=Actor.of(cast.dana), version=v1, environment=envs.development, justification="Smoke tests."
    )
    assert dev_request.state == RequestState.APPROVED
    facts = services.requests.check_facts(v1, envs.staging)
    assert facts.approved_for_previous is True

    inventory.model_version_update(actor=Actor.of(cast.dana), version=v1, artifact_digest="b" * 64)
    v1.refresh_from_db()

    facts = services.requests.check_facts(v1, envs.staging)
    assert facts.approved_for_previous is False  # that approval was for another artifact


def test_a_role_step_saved_before_the_rule_never_lets_a_viewer_approve(cast, envs, policy, v1):
    """A policy stored with a role that may not approve (say, by an older release) makes nobody eligible."""
    from apps.approvals.models import PolicyStep

    PolicyStep.objects.filter(policy=policy, order=1).update(role="viewer")

    with pytest.raises(ApprovalError, match="cannot get 2 distinct eligible approvers"):
        request_production(cast, v1, envs)  # vera and the other viewers do not count: nobody may staff the step
    assert not DeploymentRequest.objects.filter(state="pending").exists()
