"""Deciding a step: separation of duties, quorum, rejection, eligibility at decision time, e-signatures.

Signed steps re-authenticate outside the decision's transaction (a wrong password must stay on
record), so these tests run on a real transaction per service call (`transactional_db`).
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts import signatures
from apps.accounts.models import Membership, Role
from apps.accounts.services import membership_revoke
from apps.accounts.signatures import SignatureError, SignatureLocked, signing_locked_until
from apps.approvals import services
from apps.approvals.exceptions import ApprovalError, ApprovalForbidden
from apps.approvals.models import Decision, RequestState, StepState
from apps.approvals.services.decisions import signature_hash
from apps.audit.actors import Actor, ActorKind
from apps.audit.verification import verify_chain
from apps.inventory import services as inventory
from tests.conftest import PASSWORD

from .conftest import BUSINESS_SIGN_OFF, MODEL_RISK_REVIEW, Trail, decide, reload, request_production

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def pending(cast, envs, v1, trail):
    """dana's request to deploy Retail Scorecard 1.0.0 to production, waiting for the model risk review."""
    return request_production(cast, v1, envs)


def open_step(request):
    return reload(request).steps.get(state=StepState.OPEN)


def live_decisions(request):
    return list(Decision.objects.filter(request=request, voided_at__isnull=True).order_by("decided_at", "pk"))


# --- the whole path --------------------------------------------------------------------------------------------------


def test_two_reviewers_then_the_business_owner_approve_the_request(cast, pending):
    trail = Trail()

    decide(cast.rita, pending)
    assert trail.actions() == ["decision.recorded"]
    assert open_step(pending).name == MODEL_RISK_REVIEW  # one of two: the step stays open

    decide(cast.sam, pending)
    assert trail.actions()[1:] == ["decision.recorded", "request.step_approved", "request.step_opened"]
    assert open_step(pending).name == BUSINESS_SIGN_OFF

    decide(cast.bo, pending, comment="Business case holds.")

    request = reload(pending)
    assert request.state == RequestState.APPROVED
    assert request.closed_at is not None
    assert trail.actions() == [
        "decision.recorded",
        "decision.recorded", "request.step_approved", "request.step_opened",
        "decision.recorded", "request.step_approved", "request.approved",
    ]  # fmt: skip
    assert [(s.order, s.state) for s in request.steps.order_by("order")] == [
        (1, StepState.APPROVED), (2, StepState.APPROVED),
    ]  # fmt: skip
    assert [(d.username, d.step.order, d.meaning) for d in live_decisions(request)] == [
        ("rita", 1, "Approved as Model risk review"),
        ("sam", 1, "Approved as Model risk review"),
        ("bo", 2, "Approved as Business owner sign-off"),
    ]
    assert all(event.request_id == request.pk for event in trail.events())
    assert verify_chain().ok


def test_a_signed_decision_carries_its_manifestation_and_binding(cast, pending):
    decision = decide(cast.rita, pending, comment="Backtest is fine.")

    request = reload(pending)
    assert decision.signed
    assert (decision.printed_name, decision.username) == ("Rita Tester", "rita")
    assert decision.meaning == "Approved as Model risk review"
    assert decision.eligibility == "holds the approver role in the model's team"
    assert decision.comment == "Backtest is fine."
    assert decision.signature_hash == signature_hash(
        subject_hash=request.subject_hash, request_id=request.pk, round_=1, step_order=1, username="rita",
        printed_name="Rita Tester", outcome="approve", meaning="Approved as Model risk review",
        decided_at=decision.decided_at,
    )  # fmt: skip


def test_the_decision_event_records_who_why_and_the_signature(cast, pending):
    trail = Trail()

    decision = decide(cast.rita, pending)

    (event,) = trail.events()
    assert (event.action, event.actor_label, event.actor_kind) == ("decision.recorded", "rita", ActorKind.USER)
    assert event.changes["meaning"] == [None, "Approved as Model risk review"]
    assert event.changes["eligibility"] == [None, "holds the approver role in the model's team"]
    assert event.changes["signed"] == [None, True]
    assert event.changes["signature_hash"] == [None, decision.signature_hash]


def test_the_named_business_owner_is_eligible_by_name(cast, pending):
    decide(cast.rita, pending)
    decide(cast.sam, pending)

    decision = decide(cast.bo, pending)

    assert decision.eligibility == "named approver of this step"


# --- separation of duties ---------------------------------------------------------------------------------------------


def test_the_requester_cannot_approve_their_own_request(cast, envs, scorecard):
    # alice (team admin) may request and is eligible for a team step; as the requester she still may not decide.
    services.policy_save(
        actor=Actor.of(cast.admin), name="Staging", environment=envs.staging,
        steps=[{"name": "Team review", "approver_kind": "team", "team": cast.team_a, "quorum": 1}],
    )  # fmt: skip
    request = services.request_deployment(actor=Actor.of(cast.alice), version=scorecard.versions.get(version="1.0.0"),
                                          environment=envs.staging, justification="Mine.")  # fmt: skip
    trail = Trail()

    for password in (PASSWORD, "", "wrong"):
        with pytest.raises(ApprovalForbidden) as refused:
            decide(cast.alice, request, password=password)
        assert refused.value.code == "self_approval_forbidden"
        assert refused.value.message == (
            "You requested this deployment, so you cannot approve it. You may withdraw it instead."
        )

    assert live_decisions(request) == []
    assert trail.events() == []  # refused before the password was even checked: no signature.failed either
    services.deployment_request_cancel(actor=Actor.of(cast.alice), request=request)
    assert reload(request).state == RequestState.CANCELLED


def test_a_repeated_decision_is_recorded_once_with_the_first_timestamp(cast, pending):
    trail = Trail()

    first = decide(cast.rita, pending)
    again = decide(cast.rita, pending)
    once_more = decide(cast.rita, pending, step_id=first.step_id)

    assert again.pk == first.pk == once_more.pk
    assert again.decided_at == first.decided_at
    assert len(live_decisions(pending)) == 1
    assert trail.actions() == ["decision.recorded"]


def test_a_decision_cannot_be_changed(cast, pending):
    decide(cast.rita, pending)
    trail = Trail()

    with pytest.raises(ApprovalForbidden) as refused:
        decide(cast.rita, pending, "reject", comment="Changed my mind.")

    assert refused.value.code == "already_decided"
    assert refused.value.message == "You already decided this step; a decision cannot be changed."
    assert [d.outcome for d in live_decisions(pending)] == ["approve"]
    assert reload(pending).state == RequestState.PENDING
    assert trail.events() == []


def test_one_person_decides_at_most_one_step_whatever_groups_they_are_in(cast, pending):
    # sam holds the approver role (step 1) and is also named on the sign-off step (step 2) of this request.
    sign_off = pending.steps.get(name=BUSINESS_SIGN_OFF)
    sign_off.users.add(cast.sam)
    decide(cast.rita, pending)
    first = decide(cast.sam, pending)
    assert open_step(pending).pk == sign_off.pk
    trail = Trail()

    assert decide(cast.sam, pending).pk == first.pk  # "approve" again, no step named: the same decision, repeated
    with pytest.raises(ApprovalForbidden) as refused:
        decide(cast.sam, pending, step_id=sign_off.pk)  # the page names the open step

    assert refused.value.code == "already_decided"
    assert refused.value.message == "You already decided step 1 of this request; one person decides at most one step."
    assert trail.events() == []
    assert open_step(pending).decisions.count() == 0


def test_an_approver_needed_later_cannot_spend_their_one_decision_early(cast, pending):
    # bo holds the approver role (step 1) but is the only named business owner (step 2): approving step 1
    # would leave step 2 with nobody, and the request would stall until it expired.
    trail = Trail()

    with pytest.raises(ApprovalForbidden) as refused:
        decide(cast.bo, pending)

    assert refused.value.code == "needed_for_later_step"
    assert "step 2 (Business owner sign-off)" in refused.value.message
    assert live_decisions(pending) == []
    assert trail.events() == []  # refused before the password: no signature.failed either
    decide(cast.rita, pending)
    decide(cast.sam, pending)
    decide(cast.bo, pending)
    assert reload(pending).state == RequestState.APPROVED


@pytest.mark.parametrize("name", ["vera", "audrey", "alice", "dana", "ben", "admin"])
def test_only_eligible_approvers_decide(cast, pending, name):
    trail = Trail()

    with pytest.raises(ApprovalForbidden) as refused:
        decide(getattr(cast, name), pending)

    expected = "self_approval_forbidden" if name == "dana" else "not_eligible"
    assert refused.value.code == expected
    assert live_decisions(pending) == []
    assert trail.events() == []


def test_eligibility_is_checked_at_decision_time(cast, pending):
    sam = Membership.objects.get(user=cast.sam, team=cast.team_a, role=Role.APPROVER)
    membership_revoke(actor=Actor.of(cast.alice), membership=sam)
    trail = Trail()

    with pytest.raises(ApprovalForbidden) as refused:
        decide(cast.sam, pending)

    assert refused.value.code == "not_eligible"
    assert refused.value.message == "You are not an eligible approver for the open step."
    assert trail.events() == []
    assert live_decisions(pending) == []


def test_an_approver_revoked_after_deciding_keeps_the_decision_made_while_eligible(cast, pending):
    decision = decide(cast.sam, pending)
    membership_revoke(actor=Actor.of(cast.alice), membership=Membership.objects.get(user=cast.sam, team=cast.team_a))

    decide(cast.rita, pending)

    assert Decision.objects.get(pk=decision.pk).eligibility == "holds the approver role in the model's team"
    assert open_step(pending).name == BUSINESS_SIGN_OFF


def test_a_stale_form_for_a_closed_step_is_refused(cast, pending):
    step_one = open_step(pending)
    decide(cast.rita, pending)
    decide(cast.sam, pending)

    with pytest.raises(ApprovalError) as refused:
        decide(cast.bo, pending, step_id=step_one.pk)

    assert refused.value.code == "step_closed"
    assert open_step(pending).decisions.count() == 0


def test_a_service_token_cannot_sign(cast, pending):
    token = Actor(user=cast.rita, label="ci-token", kind=ActorKind.TOKEN)

    with pytest.raises(ApprovalForbidden) as refused:
        services.deployment_request_decide(actor=token, request=pending, outcome="approve", password=PASSWORD)

    assert refused.value.code == "reauth_required"
    assert live_decisions(pending) == []


# --- rejection --------------------------------------------------------------------------------------------------------


def test_a_rejection_is_final_for_the_request(cast, pending):
    decide(cast.rita, pending)
    trail = Trail()

    decision = decide(cast.sam, pending, "reject", comment="Drift on the holdout set.")

    request = reload(pending)
    assert request.state == RequestState.REJECTED
    assert decision.meaning == "Rejected as Model risk review"
    assert trail.actions() == ["decision.recorded", "request.rejected"]
    assert [(s.order, s.state) for s in request.steps.order_by("order")] == [
        (1, StepState.REJECTED), (2, StepState.VOID),
    ]  # fmt: skip
    with pytest.raises(ApprovalError) as closed:
        decide(cast.bo, pending)
    assert closed.value.code == "request_closed"
    assert closed.value.message == "This request is rejected; it can no longer be decided."
    assert trail.actions() == ["decision.recorded", "request.rejected"]


def test_the_business_owner_can_reject_after_the_review(cast, pending):
    decide(cast.rita, pending)
    decide(cast.sam, pending)

    decide(cast.bo, pending, "reject", comment="Not this quarter.")

    assert reload(pending).state == RequestState.REJECTED


@pytest.mark.parametrize("comment", ["", "   "])
def test_a_rejection_needs_a_comment(cast, pending, comment):
    trail = Trail()

    with pytest.raises(ValidationError) as refused:
        decide(cast.rita, pending, "reject", comment=comment)

    assert refused.value.message_dict == {"comment": ["Say why you reject: a comment is required."]}
    assert trail.events() == []
    assert reload(pending).state == RequestState.PENDING


def test_an_unknown_outcome_is_refused(cast, pending):
    with pytest.raises(ValidationError, match="Choose approve or reject"):
        decide(cast.rita, pending, "abstain")


# --- the artifact changes: decisions void, a new round ----------------------------------------------------------------


def test_a_new_digest_voids_the_decisions_and_the_earlier_approvers_approve_again(cast, pending, v1):
    first = decide(cast.rita, pending)
    decide(cast.sam, pending)
    trail = Trail()

    inventory.model_version_update(actor=Actor.of(cast.dana), version=v1, artifact_digest="b" * 64)

    request = reload(pending)
    assert request.state == RequestState.DRAFT
    assert live_decisions(request) == []
    assert Decision.objects.get(pk=first.pk).voided_at is not None
    assert trail.actions() == ["version.updated", "request.reset_to_draft"]
    assert trail.events()[-1].changes["voided_decisions"] == [None, 2]

    services.deployment_request_submit(actor=Actor.of(cast.dana), request=request)
    again = decide(cast.rita, request)

    assert again.pk != first.pk
    assert again.step.round == 2
    assert again.signature_hash != first.signature_hash  # bound to the new subject
    decide(cast.sam, request)
    decide(cast.bo, request)
    assert reload(request).state == RequestState.APPROVED
    assert Decision.objects.filter(request=request).count() == 5


# --- e-signatures -----------------------------------------------------------------------------------------------------


def test_a_wrong_password_refuses_the_decision_and_keeps_only_the_failure(cast, pending):
    trail = Trail()

    with pytest.raises(SignatureError) as refused:
        decide(cast.rita, pending, password="not-my-password")

    assert refused.value.message == (
        "The password is not correct: the decision was not recorded. 4 attempts left before signing locks."
    )
    assert live_decisions(pending) == []
    assert trail.actions() == ["signature.failed"]
    (event,) = trail.events()
    assert (event.actor_label, event.request_id) == ("rita", pending.pk)
    assert event.changes == {"meaning": [None, "Approved as Model risk review"]}


def test_a_missing_password_counts_as_a_wrong_one(cast, pending):
    trail = Trail()

    with pytest.raises(SignatureError):
        decide(cast.rita, pending, password=None)

    assert trail.actions() == ["signature.failed"]


@pytest.fixture
def clock(monkeypatch):
    """A frozen clock for everyone who asks django.utils.timezone (the signatures module, audit, services)."""

    class Clock:
        now = timezone.now()

        def advance(self, **delta):
            self.now += timedelta(**delta)

    frozen = Clock()
    monkeypatch.setattr(signatures.timezone, "now", lambda: frozen.now)
    return frozen


def test_five_wrong_passwords_in_fifteen_minutes_lock_signing_for_fifteen_minutes(cast, pending, clock):
    trail = Trail()
    for _ in range(5):
        with pytest.raises(SignatureError):
            decide(cast.rita, pending, password="guess")
        clock.advance(minutes=3)  # the fifth failure comes 12 minutes after the first
    locked_at = clock.now - timedelta(minutes=3)

    assert signing_locked_until(cast.rita) == locked_at + timedelta(minutes=15)
    with pytest.raises(SignatureLocked) as locked:
        decide(cast.rita, pending)  # the right password, refused while locked
    assert locked.value.code == "signature_locked"
    assert "Signing is locked after 5 wrong passwords" in locked.value.message
    assert trail.actions() == ["signature.failed"] * 5
    assert live_decisions(pending) == []
    decide(cast.sam, pending)  # the lock is personal

    clock.now = locked_at + timedelta(minutes=15, seconds=1)
    assert signing_locked_until(cast.rita) is None
    decision = decide(cast.rita, pending)

    assert decision.username == "rita"
    assert open_step(pending).name == BUSINESS_SIGN_OFF


def test_the_fifth_failure_says_signing_is_now_locked(cast, pending, clock):
    for _ in range(4):
        with pytest.raises(SignatureError):
            decide(cast.rita, pending, password="guess")

    with pytest.raises(SignatureError) as fifth:
        decide(cast.rita, pending, password="guess")

    assert fifth.value.message.endswith("Signing is now locked for 15 minutes.")


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(cast, pending, clock):
    for _ in range(4):
        with pytest.raises(SignatureError):
            decide(cast.rita, pending, password="guess")
        clock.advance(minutes=5)  # 4 failures over 15 minutes, the fifth 20 minutes after the first
    with pytest.raises(SignatureError):
        decide(cast.rita, pending, password="guess")

    assert signing_locked_until(cast.rita) is None
    assert decide(cast.rita, pending).username == "rita"


def test_signing_locked_until_reads_the_audit_trail_at_any_moment(cast, pending, clock):
    start = clock.now
    for _ in range(5):
        with pytest.raises(SignatureError):
            decide(cast.rita, pending, password="guess")

    assert signing_locked_until(cast.rita, now=start - timedelta(seconds=1)) == start + timedelta(minutes=15)
    assert signing_locked_until(cast.rita, now=start + timedelta(minutes=14)) == start + timedelta(minutes=15)
    assert signing_locked_until(cast.rita, now=start + timedelta(minutes=15)) is None
    assert signing_locked_until(cast.sam, now=start) is None


def test_an_unsigned_step_needs_no_password(cast, envs, scorecard):
    services.policy_save(
        actor=Actor.of(cast.admin), name="Staging", environment=envs.staging, risk_tiers=["high"],
        steps=[{"name": "Peer review", "approver_kind": "role", "role": "approver", "quorum": 1,
                "requires_signature": False}],
    )  # fmt: skip
    request = services.request_deployment(actor=Actor.of(cast.dana), version=scorecard.versions.get(version="1.0.0"),
                                          environment=envs.staging, justification="Staging.")  # fmt: skip
    trail = Trail()

    decision = decide(cast.rita, request, password=None)

    assert (decision.signed, decision.signature_hash) == (False, "")
    assert decision.meaning == "Approved as Peer review"
    assert trail.actions() == ["decision.recorded", "request.step_approved", "request.approved"]
