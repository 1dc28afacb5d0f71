"""Deciding a step: separation of duties, quorum, signatures, and the transitions that follow — one transaction."""

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.signatures import verify_signature
from apps.audit.actions import Action
from apps.audit.actors import Actor, ActorKind
from apps.audit.hashing import format_timestamp
from apps.audit.services import record

from .. import policies
from ..eligibility import eligible_user_ids, roles_of, step_rule
from ..exceptions import ApprovalError, ApprovalForbidden
from ..models import Decision, DeploymentRequest, Outcome, RequestState, RequestStep, StepState
from .requests import _close, _open_step


def signature_hash(
    *,
    subject_hash: str,
    request_id: int,
    round_: int,
    step_order: int,
    username: str,
    printed_name: str,
    outcome: str,
    meaning: str,
    decided_at,
) -> str:
    """Binds a signed decision to exactly what was approved (§11.70): any change to either breaks it."""
    payload = {
        "subject_hash": subject_hash, "request": request_id, "round": round_, "step": step_order,
        "username": username, "printed_name": printed_name, "outcome": outcome, "meaning": meaning,
        "decided_at": format_timestamp(decided_at),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def meaning_of(outcome: str, step_name: str) -> str:
    return f"{Outcome(outcome).label} as {step_name}"


def _validate_input(outcome: str, comment: str) -> str:
    if outcome not in Outcome.values:
        raise ValidationError({"outcome": [f"Choose approve or reject, not {outcome!r}."]})
    comment = (comment or "").strip()
    if outcome == Outcome.REJECT and not comment:
        raise ValidationError({"comment": ["Say why you reject: a comment is required."]})
    if len(comment) > 5000:
        raise ValidationError({"comment": ["Keep the comment under 5000 characters."]})
    return comment


def deployment_request_decide(
    *,
    actor: Actor,
    request: DeploymentRequest,
    outcome: str,
    comment: str = "",
    password: str | None = None,
    step_id: int | None = None,
) -> Decision:
    """Record `actor`'s decision on the open step (or on `step_id`, refusing if that step has closed).

    A step that needs an e-signature re-authenticates the person first, outside the
    decision's transaction, so a wrong password is kept on record as `signature.failed`
    while the decision is refused. Repeating the same decision returns the first one.
    """
    comment = _validate_input(outcome, comment)
    if actor.user is not None:
        existing = _existing_decision(request.pk, actor.user.pk, outcome, step_id)
        if existing is not None:
            return existing  # a double click or a repeated POST: one decision, first timestamp kept
    step = _target_step(request.pk, step_id)
    if step is not None and step.requires_signature:
        if actor.kind != ActorKind.USER:
            raise ApprovalForbidden(
                f"Step {step.order} ({step.name}) needs an electronic signature: a person must decide it in the "
                "browser with their password. API tokens cannot sign.", code="reauth_required",
            )  # fmt: skip
        if step.state == StepState.OPEN:
            # Refuse who may never decide before asking for a password: no signature.failed, no lockout for them.
            current = DeploymentRequest.objects.select_related("version__model").get(pk=request.pk)
            _ensure_may_decide(current, step, actor.user, outcome)
        verify_signature(actor=actor, password=password or "", meaning=meaning_of(outcome, step.name), target=request)
    return _decide(
        actor=actor,
        request_id=request.pk,
        outcome=outcome,
        comment=comment,
        # Pinned to the step that was signed for: if it closes meanwhile, the decision is refused rather than
        # recorded on the next step under a meaning the person did not sign.
        step_id=step.pk if step is not None else step_id,
        signed=bool(step and step.requires_signature),
    )


def _blocks_later_step(request: DeploymentRequest, step: RequestStep, user, decided: dict) -> RequestStep | None:
    """The step that could no longer be staffed if `user` approved `step` now, or None.

    One person decides at most one step: approving an early step must not use up the
    only person who can decide a later one, or the request would stall until it expires.
    """
    team_id = request.team_id
    taken = set(decided) | {user.pk, request.requester_id}
    remaining = list(request.steps.filter(round=request.round, order__gte=step.order).order_by("order")
                     .select_related("team").prefetch_related("users"))  # fmt: skip
    approvals = step.decisions.filter(outcome=Outcome.APPROVE, voided_at__isnull=True).count()
    slots = []
    for candidate in remaining:
        seats = candidate.quorum - approvals - 1 if candidate.pk == step.pk else candidate.quorum
        slots.append((max(seats, 0), eligible_user_ids(step_rule(candidate), team_id) - taken))
    bad = policies.can_staff(slots)
    return remaining[bad] if bad is not None else None


def _ensure_may_decide(request: DeploymentRequest, step: RequestStep, user, outcome: str = Outcome.APPROVE) -> str:
    """Separation of duties and eligibility, now: the eligibility sentence, or ApprovalForbidden."""
    live = request.decisions.filter(voided_at__isnull=True).select_related("step")
    decided = {decision.approver_id: decision.step.order for decision in live}
    reason = policies.eligibility(
        step_rule(step) | {"team_name": step.team.name if step.team_id else None},
        user.pk,
        roles_of(user),
        request.version.model.team_id,
    )
    refusal = policies.decision_refusal(
        user_id=user.pk,
        requester_id=request.requester_id,
        eligible_reason=reason,
        decided_step_orders=decided,
        step_order=step.order,
    )
    if refusal:
        code = (
            "self_approval_forbidden"
            if user.pk == request.requester_id
            else ("already_decided" if user.pk in decided else "not_eligible")
        )
        raise ApprovalForbidden(refusal, code=code)
    if outcome == Outcome.APPROVE:
        blocked = _blocks_later_step(request, step, user, decided)
        if blocked is not None and blocked.pk != step.pk:
            raise ApprovalForbidden(
                f"You are needed for step {blocked.order} ({blocked.name}), which no one else can decide; "
                "since one person decides at most one step, leave this step to the other approvers.",
                code="needed_for_later_step",
            )
    return reason


def _existing_decision(request_id: int, user_id: int, outcome: str, step_id: int | None) -> Decision | None:
    existing = Decision.objects.filter(request_id=request_id, approver_id=user_id, voided_at__isnull=True).first()
    if existing and existing.outcome == outcome and step_id in (None, existing.step_id):
        return existing
    return None


def _target_step(request_id: int, step_id: int | None) -> RequestStep | None:
    steps = RequestStep.objects.filter(request_id=request_id)
    if step_id is not None:
        return steps.filter(pk=step_id).first()
    return steps.filter(state=StepState.OPEN).first()


@transaction.atomic
def _decide(
    *, actor: Actor, request_id: int, outcome: str, comment: str, step_id: int | None, signed: bool
) -> Decision:
    request = DeploymentRequest.objects.select_for_update().select_related("version__model").get(pk=request_id)
    user = actor.user
    if user is None:
        raise ApprovalForbidden("Only a person or a service account's token can decide.", code="not_a_person")
    existing = _existing_decision(request.pk, user.pk, outcome, step_id)
    if existing is not None:  # decided by a concurrent identical submit while we waited for the lock
        return existing
    if request.state != RequestState.PENDING:
        raise ApprovalError(
            f"This request is {request.get_state_display().lower()}; it can no longer be decided.",
            code="request_closed",
        )
    step = request.steps.filter(round=request.round, state=StepState.OPEN).prefetch_related("users").first()
    if step is None or (step_id is not None and step.pk != step_id):
        raise ApprovalError(
            "The step you were deciding has closed in the meantime; reload the request.", code="step_closed"
        )
    if step.requires_signature and not signed:  # the step moved on while we verified: it now needs a signature
        raise ApprovalError(
            "The request moved to a step that needs your signature; reload and sign.", code="step_closed"
        )
    reason = _ensure_may_decide(request, step, user, outcome)
    now = timezone.now()
    meaning = meaning_of(outcome, step.name)
    decision = Decision.objects.create(
        request=request, step=step, approver=user, outcome=outcome, comment=comment, eligibility=reason,
        decided_at=now, signed=signed, printed_name=user.get_full_name() or user.username,
        username=user.username, meaning=meaning,
        signature_hash=signature_hash(
            subject_hash=request.subject_hash, request_id=request.pk, round_=request.round, step_order=step.order,
            username=user.username, printed_name=user.get_full_name() or user.username, outcome=outcome,
            meaning=meaning, decided_at=now,
        ) if signed else "",
    )  # fmt: skip
    record(action=Action.DECISION_RECORDED, actor=actor, target=request, changes={
        "step": [None, f"{step.order}. {step.name}"], "outcome": [None, outcome], "meaning": [None, meaning],
        "comment": [None, comment or None], "eligibility": [None, reason], "signed": [None, signed],
        "printed_name": [None, decision.printed_name], "decided_at": [None, decision.decided_at],
        "signature_hash": [None, decision.signature_hash or None],
    })  # fmt: skip
    if outcome == Outcome.REJECT:
        step.state, step.completed_at = StepState.REJECTED, now
        step.save(update_fields=["state", "completed_at"])
        _close(request, RequestState.REJECTED, actor=actor, action=Action.REQUEST_REJECTED, now=now,
               changes={"step": [None, step.name]})  # fmt: skip
        return decision
    approvals = step.decisions.filter(outcome=Outcome.APPROVE, voided_at__isnull=True).count()
    if not policies.step_complete(approvals, step.quorum):
        return decision
    step.state, step.completed_at = StepState.APPROVED, now
    step.save(update_fields=["state", "completed_at"])
    record(
        action=Action.REQUEST_STEP_APPROVED,
        actor=actor,
        target=request,
        changes={"step": [None, f"{step.order}. {step.name}"], "approvals": [None, approvals]},
    )
    following = request.steps.filter(round=request.round, order__gt=step.order).order_by("order").first()
    if following is not None:
        _open_step(request, following, actor, now)
        return decision
    _close(request, RequestState.APPROVED, actor=actor, action=Action.REQUEST_APPROVED, now=now)
    return decision
