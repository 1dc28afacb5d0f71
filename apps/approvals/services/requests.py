"""Deployment requests: create, submit (checks, policy frozen), cancel, expire, reset when the artifact changes."""

import hashlib
import json
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import permissions
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record
from apps.inventory.models import Environment, ModelVersion

from .. import policies, signals, tasks
from ..eligibility import eligible_user_ids
from ..exceptions import ApprovalError, ApprovalForbidden
from ..models import OPEN_STATES, ApprovalPolicy, DeploymentRequest, RequestState, RequestStep, StepState
from .policies import policy_snapshot

SCHEDULER = Actor.system("scheduler")


def governing_policy(environment: Environment, risk_tier: str) -> ApprovalPolicy | None:
    candidates = list(ApprovalPolicy.objects.filter(active=True))
    return policies.choose_policy(candidates, environment.pk, risk_tier)


def subject_of(version: ModelVersion, environment: Environment) -> tuple[dict, str]:
    """What exactly is approved, and its SHA-256: signatures bind to this hash."""
    subject = {
        "model_id": version.model_id, "model": version.model.name, "risk_tier": version.model.risk_tier,
        "version_id": version.pk, "version": version.version, "artifact_digest": version.artifact_digest,
        "git_commit_sha": version.git_commit_sha, "environment_id": environment.pk, "environment": environment.name,
    }  # fmt: skip
    canonical = json.dumps(subject, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return subject, hashlib.sha256(canonical).hexdigest()


def check_facts(version: ModelVersion, environment: Environment) -> policies.CheckFacts:
    previous = environment.previous()
    model = version.model
    return policies.CheckFacts(
        has_model_card=bool(version.model_card.strip()),
        digest=version.artifact_digest,
        metrics=version.metrics or {},
        previous_environment=previous.name if previous else None,
        # Approved for the previous environment with this very artifact: a changed digest needs a new approval.
        approved_for_previous=bool(previous) and DeploymentRequest.objects.filter(
            version=version, environment=previous, state=RequestState.APPROVED,
            subject__artifact_digest=version.artifact_digest).exists(),
        validation_due=model.next_validation_due.isoformat() if model.next_validation_due else None,
        validation_overdue=model.validation_overdue(),
    )  # fmt: skip


def preview_checks(*, version: ModelVersion, environment: Environment) -> tuple[ApprovalPolicy | None, list]:
    """The policy that would govern a request and its checks' results, without writing anything."""
    policy = governing_policy(environment, version.model.risk_tier)
    if policy is None:
        return None, []
    snapshot = policy_snapshot(policy)
    return policy, policies.evaluate_checks(snapshot, check_facts(version, environment))


@transaction.atomic
def deployment_request_create(
    *, actor: Actor, version: ModelVersion, environment: Environment, justification: str
) -> DeploymentRequest:
    """A draft request to deploy `version` to `environment` (contributors and admins of the model's team)."""
    version = ModelVersion.objects.select_related("model__team").get(pk=version.pk)
    if not permissions.can(actor.user, permissions.REQUEST_DEPLOY, version.model):
        raise PermissionDenied(f"You may not request deployments of {version.model.name}.")
    justification = (justification or "").strip()
    if not justification:
        raise ValidationError({"justification": ["Say why this version should be deployed; approvers read it."]})
    if len(justification) > 5000:
        raise ValidationError({"justification": ["Keep the justification under 5000 characters."]})
    duplicate = DeploymentRequest.objects.filter(version=version, environment=environment, state__in=OPEN_STATES)
    if duplicate.exists():
        existing = duplicate.first()
        raise ApprovalError(
            f"Request #{existing.pk} for {version} to {environment} is already {existing.state}.",
            code="request_already_open",
        )
    request = DeploymentRequest.objects.create(
        version=version, model=version.model, team=version.model.team, environment=environment,
        requester=actor.user, justification=justification,
    )  # fmt: skip
    subject, _ = subject_of(version, environment)
    request.subject = subject
    request.save(update_fields=["subject"])
    record(
        action=Action.REQUEST_CREATED,
        actor=actor,
        target=request,
        changes={"state": [None, RequestState.DRAFT], "justification": [None, justification]},
    )
    return request


def _open_step(request: DeploymentRequest, step: RequestStep, actor: Actor, now) -> None:
    step.state = StepState.OPEN
    step.opened_at = now
    step.due_at = now + timedelta(hours=step.due_hours)
    step.save(update_fields=["state", "opened_at", "due_at"])
    record(
        action=Action.REQUEST_STEP_OPENED,
        actor=actor,
        target=request,
        changes={"step": [None, f"{step.order}. {step.name}"], "due_at": [None, step.due_at]},
    )
    tasks.notify_step_opened_task.delay_on_commit(step.pk)


def _close(
    request: DeploymentRequest, state: str, *, actor: Actor, action: Action, changes: dict | None = None, now=None
) -> None:
    """End a request in `state`: void its unfinished steps, record `action`, tell the requester after commit.

    An approval also sends `request_approved` inside the transaction, for the apps below (rollouts).
    """
    now = now or timezone.now()
    old = request.state
    request.state = state
    request.closed_at = now
    request.save(update_fields=["state", "closed_at", "updated_at"])
    request.steps.filter(round=request.round, state__in=[StepState.OPEN, StepState.WAITING]).update(
        state=StepState.VOID, completed_at=now
    )
    record(action=action, actor=actor, target=request, changes={"state": [old, state]} | (changes or {}))
    if state == RequestState.APPROVED:
        from ..signals import request_approved

        request_approved.send(sender=DeploymentRequest, request=request, actor=actor)
    tasks.notify_request_closed_task.delay_on_commit(request.pk)
    transaction.on_commit(lambda: signals.request_closed.send(sender=DeploymentRequest, request=request, state=state))


def _require_requester(actor: Actor, request: DeploymentRequest, model, verb: str) -> None:
    """Submitting and withdrawing are the requester's, and only while they may still request deployments of the
    model: a person needs a current contributor or admin role, a token the request-deploy scope as well."""
    if actor.user is None or actor.user.pk != request.requester_id:
        raise ApprovalForbidden(f"Only the requester can {verb} this request.", code="not_requester")
    message = (f"You may not {verb} deployment requests of {model.name}: that takes a contributor or admin role in "
               f"{model.team} (and, for a token, the request-deploy scope).")  # fmt: skip
    permissions.require(actor.user, permissions.REQUEST_DEPLOY, model, message)


@transaction.atomic
def deployment_request_submit(*, actor: Actor, request: DeploymentRequest) -> DeploymentRequest:
    """Run the checks, freeze the governing policy and the subject, and open the first step.

    Only the requester, while they may still request deployments of the model (REQUEST_DEPLOY). A failing
    check or an impossible policy refuses the submission and writes nothing.
    """
    request = DeploymentRequest.objects.select_for_update().get(pk=request.pk)
    version = ModelVersion.objects.select_related("model__team").get(pk=request.version_id)
    environment = request.environment
    _require_requester(actor, request, version.model, "submit")
    if request.state != RequestState.DRAFT:
        raise ApprovalError(f"Only a draft can be submitted; this request is {request.state}.", code="not_draft")
    now = timezone.now()
    subject, subject_hash = subject_of(version, environment)
    policy = governing_policy(environment, version.model.risk_tier)
    if policy is None and environment.protected:
        raise ApprovalError(
            f"{environment.name} is protected and no approval policy governs {version.model.risk_tier}-risk models "
            "there, so nothing can be deployed to it yet. Ask an administrator to add a policy.",
            code="no_policy",
        )
    snapshot = policy_snapshot(policy) if policy else {"name": None, "steps": []}
    results = policies.evaluate_checks(snapshot, check_facts(version, environment))
    failed = [result for result in results if not result.passed]
    if failed:
        raise ApprovalError(
            "Checks failed: " + "; ".join(f"{r.label}: {r.detail}" for r in failed), code="policy_check_failed"
        )
    rules = [(step["quorum"], step) for step in snapshot["steps"]]
    staffing = [(quorum, eligible_user_ids(rule, version.model.team_id)) for quorum, rule in rules]
    bad = policies.can_staff(staffing, excluded={request.requester_id})
    if bad is not None:
        step = snapshot["steps"][bad]
        raise ApprovalError(
            f"Step {step['order']} ({step['name']}) cannot get {step['quorum']} distinct eligible approvers other "
            "than you; ask an administrator to fix the policy.", code="policy_unsatisfiable",
        )  # fmt: skip
    request.round += 1
    request.state = RequestState.PENDING
    request.policy = policy
    request.frozen_policy = snapshot
    request.subject, request.subject_hash = subject, subject_hash
    request.checks = [result.as_dict() for result in results]
    request.submitted_at = now
    request.expires_at = now + timedelta(days=policy.expiry_days if policy else 14)
    request.save()
    record(action=Action.REQUEST_SUBMITTED, actor=actor, target=request, changes={
        "state": [RequestState.DRAFT, RequestState.PENDING], "round": [request.round - 1, request.round],
        "policy": [None, f"{snapshot['name']} (revision {snapshot.get('revision')})" if policy else None],
        "subject_hash": [None, subject_hash], "artifact_digest": [None, version.artifact_digest],
        "checks": [None, [f"{r.label}: {'pass' if r.passed else 'fail'}" for r in results]],
    })  # fmt: skip
    steps = []
    for data in snapshot["steps"]:
        step = RequestStep.objects.create(
            request=request, round=request.round, order=data["order"], name=data["name"],
            approver_kind=data["approver_kind"], role=data["role"] or "", team_id=data["team_id"],
            quorum=data["quorum"], requires_signature=data["requires_signature"], due_hours=data["due_hours"],
        )  # fmt: skip
        step.users.set(data["user_ids"])
        steps.append(step)
    if steps:
        _open_step(request, steps[0], actor, now)
    else:  # an unprotected environment no policy governs: nothing to approve
        reason = f"No approval policy governs {environment.name}; it is not protected."
        _close(request, RequestState.APPROVED, actor=actor, action=Action.REQUEST_APPROVED, now=now,
               changes={"reason": [None, reason]})  # fmt: skip
    return request


@transaction.atomic
def request_deployment(
    *, actor: Actor, version: ModelVersion, environment: Environment, justification: str
) -> DeploymentRequest:
    """Create and submit in one go (the browser's "Request deployment"); if submission fails, nothing is kept."""
    request = deployment_request_create(
        actor=actor, version=version, environment=environment, justification=justification
    )
    return deployment_request_submit(actor=actor, request=request)


@transaction.atomic
def deployment_request_cancel(*, actor: Actor, request: DeploymentRequest, reason: str = "") -> DeploymentRequest:
    """The requester withdraws a draft or pending request (while they may still request deployments of the model)."""
    request = DeploymentRequest.objects.select_for_update().select_related("version__model").get(pk=request.pk)
    _require_requester(actor, request, request.version.model, "withdraw")
    if not request.is_open():
        raise ApprovalError(f"This request is already {request.state}.", code="request_closed")
    _close(request, RequestState.CANCELLED, actor=actor, action=Action.REQUEST_CANCELLED,
           changes={"reason": [None, (reason or "").strip()[:1000] or None]})  # fmt: skip
    return request


@transaction.atomic
def deployment_request_expire(*, request: DeploymentRequest, now=None) -> bool:
    """Expire one pending request past its expiry (the scheduler's job); False if it is not due."""
    now = now or timezone.now()
    request = DeploymentRequest.objects.select_for_update().get(pk=request.pk)
    if request.state != RequestState.PENDING or request.expires_at is None or request.expires_at > now:
        return False
    # closed_at is when it actually happened, not the `now` it was judged against
    _close(request, RequestState.EXPIRED, actor=SCHEDULER, action=Action.REQUEST_EXPIRED,
           changes={"expires_at": [None, request.expires_at]})  # fmt: skip
    return True


def deployment_request_expire_due(now=None) -> int:
    """Expire every pending request past its expiry; each in its own transaction. Returns how many."""
    now = now or timezone.now()
    due = DeploymentRequest.objects.filter(state=RequestState.PENDING, expires_at__lte=now).values_list("pk", flat=True)
    return sum(deployment_request_expire(request=DeploymentRequest(pk=pk), now=now) for pk in list(due))


def deployment_request_reset_for_version_change(*, actor: Actor, version: ModelVersion, old_digest: str) -> int:
    """The artifact under a pending request changed: back to draft, approvals void. Runs in the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("must run inside the transaction that changed the version")
    now = timezone.now()
    count = 0
    for request in DeploymentRequest.objects.select_for_update().filter(version=version, state=RequestState.PENDING):
        voided = request.decisions.filter(voided_at__isnull=True).update(voided_at=now)
        request.steps.filter(round=request.round).update(state=StepState.VOID, completed_at=now)
        request.state = RequestState.DRAFT
        request.save(update_fields=["state", "updated_at"])
        record(action=Action.REQUEST_RESET, actor=actor, target=request, changes={
            "state": [RequestState.PENDING, RequestState.DRAFT],
            "artifact_digest": [old_digest, version.artifact_digest], "voided_decisions": [None, voided],
        })  # fmt: skip
        count += 1
    return count
