"""Approval policies: created and changed by administrators, every change audited, unsatisfiable ones refused."""

import copy

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.accounts import permissions
from apps.accounts.models import Role
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import diff, record
from apps.inventory.models import RegisteredModel, RiskTier

from .. import policies
from ..eligibility import eligible_user_ids, step_rule
from ..models import ApprovalPolicy, ApproverKind, PolicyStep

POLICY_FIELDS = (
    "name", "description", "environment", "risk_tiers", "active", "require_model_card", "require_digest",
    "require_previous_environment", "require_current_validation", "metric_thresholds", "expiry_days",
)  # fmt: skip
STEP_FIELDS = ("name", "approver_kind", "role", "team", "users", "quorum", "requires_signature", "due_hours")


def policy_snapshot(policy: ApprovalPolicy) -> dict:
    """The policy as data: what is audited on change and frozen into each request it governs."""
    steps = []
    for step in policy.steps.select_related("team").prefetch_related("users").order_by("order"):
        rule = step_rule(step)
        steps.append({
            "order": step.order, "name": step.name, **rule,
            "usernames": sorted(user.username for user in step.users.all()),
            "quorum": step.quorum, "requires_signature": step.requires_signature, "due_hours": step.due_hours,
        })  # fmt: skip
    return {
        "id": policy.pk, "name": policy.name, "revision": policy.revision, "description": policy.description,
        "environment": policy.environment.name if policy.environment_id else None,
        "risk_tiers": sorted(policy.risk_tiers), "active": policy.active,
        "require_model_card": policy.require_model_card, "require_digest": policy.require_digest,
        "require_previous_environment": policy.require_previous_environment,
        "require_current_validation": policy.require_current_validation,
        "metric_thresholds": policy.metric_thresholds, "expiry_days": policy.expiry_days, "steps": steps,
    }  # fmt: skip


def _validate(fields: dict, steps: list[dict]) -> None:
    errors: dict[str, list[str]] = {}
    tiers = fields.get("risk_tiers") or []
    unknown = [tier for tier in tiers if tier not in RiskTier.values]
    if unknown:
        errors["risk_tiers"] = [f"Unknown risk tier {', '.join(unknown)}; choose from {', '.join(RiskTier.values)}."]
    thresholds = fields.get("metric_thresholds") or []
    if not isinstance(thresholds, list):
        errors["metric_thresholds"] = ["Metric thresholds are a list of rules."]
    else:
        problems = [problem for rule in thresholds if (problem := policies.threshold_error(rule))]
        if problems:
            errors["metric_thresholds"] = problems
    # Absent fields keep the model's default (or the policy's current value), as absent due_hours keep 72 below.
    if "expiry_days" in fields and not 1 <= int(fields["expiry_days"] or 0) <= 365:
        errors["expiry_days"] = ["Requests expire after 1 to 365 days."]
    if not steps:
        errors["steps"] = ["A policy needs at least one approval step."]
    for number, step in enumerate(steps, start=1):
        problem = None
        if not (step.get("name") or "").strip():
            problem = "needs a name (it is the meaning of the signature)"
        elif int(step.get("quorum") or 0) < 1:
            problem = "needs a quorum of at least 1"
        elif step.get("approver_kind") not in ApproverKind.values:
            problem = "needs an approver kind: a role, a team or named people"
        elif step["approver_kind"] == ApproverKind.ROLE and step.get("role") not in Role.values:
            problem = "names no valid role"
        elif step["approver_kind"] == ApproverKind.ROLE and not permissions.role_allows(
            [step["role"]], permissions.APPROVE
        ):
            approving = " or ".join(permissions.roles_allowing(permissions.APPROVE))
            problem = f"names the {step['role']} role, which may not approve (choose {approving})"
        elif step["approver_kind"] == ApproverKind.TEAM and not step.get("team"):
            problem = "names no team"
        elif step["approver_kind"] == ApproverKind.USERS and not step.get("users"):
            problem = "names no approvers"
        elif step.get("due_hours") is not None and int(step["due_hours"]) < 1:
            problem = "needs a due time of at least one hour"
        if problem:
            errors.setdefault("steps", []).append(f"Step {number} {problem}.")
    if errors:
        raise ValidationError(errors)


def _potential_requesters(team_id: int) -> set[int]:
    return set(permissions.holders(permissions.REQUEST_DEPLOY, team_id=team_id).values_list("user_id", flat=True))


def _check_satisfiable(policy: ApprovalPolicy) -> None:
    """Refuse a policy some request could never get through: too few eligible people, not counting the requester."""
    steps = list(policy.steps.select_related("team").prefetch_related("users").order_by("order"))
    rules = [(step.quorum, step_rule(step)) for step in steps]
    governed = RegisteredModel.objects.all()
    if policy.risk_tiers:
        governed = governed.filter(risk_tier__in=policy.risk_tiers)
    team_ids = sorted(set(governed.values_list("team_id", flat=True)))
    static = all(rule["approver_kind"] != ApproverKind.ROLE for _, rule in rules)
    if static and not team_ids:
        team_ids = [0]  # no model yet: the named people and teams must still be enough
    for team_id in team_ids:
        slots = [(quorum, eligible_user_ids(rule, team_id)) for quorum, rule in rules]
        requesters = (_potential_requesters(team_id) if team_id else set()) & set().union(*(s for _, s in slots))
        for requester in sorted(requesters) or [None]:
            bad = policies.can_staff(slots, excluded={requester} if requester else set())
            if bad is not None:
                step = steps[bad]
                where = RegisteredModel.objects.filter(team_id=team_id).values_list("team__name", flat=True).first()
                raise ValidationError({"steps": [
                    f"Step {step.order} ({step.name}) needs {step.quorum} distinct eligible approver"
                    f"{'s' if step.quorum != 1 else ''}{f' in {where}' if where else ''} who are not the requester "
                    "and decide no other step; there are not enough. Lower the quorum or name more approvers."
                ]})  # fmt: skip


@transaction.atomic
def policy_save(*, actor: Actor, policy: ApprovalPolicy | None = None, steps: list[dict], **fields) -> ApprovalPolicy:
    """Create or change a policy with its ordered steps. Administrators only; audited as a diff; revision bumped."""
    permissions.require_portal_admin(actor.user, "Only administrators can edit approval policies.")
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown policy fields: {', '.join(sorted(unknown))}.")
    _validate(fields, steps)
    creating = policy is None
    if creating:
        policy = ApprovalPolicy()
        before = None
    else:
        policy = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
        before = policy_snapshot(policy)
        unchanged = copy.copy(policy)  # returned as it was if the save turns out to change nothing
    for field, value in fields.items():
        setattr(policy, field, sorted(value) if field == "risk_tiers" else value)
    try:
        policy.full_clean()
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise ValidationError({"name": ["A policy with this name exists."]}) from None
    policy.steps.all().delete()
    for order, data in enumerate(steps, start=1):
        step = PolicyStep.objects.create(
            policy=policy, order=order, name=data["name"].strip(), approver_kind=data["approver_kind"],
            role=data.get("role") or "", team=data.get("team") if data["approver_kind"] == ApproverKind.TEAM else None,
            quorum=int(data["quorum"]), requires_signature=bool(data.get("requires_signature", True)),
            due_hours=int(data.get("due_hours") or 72),
        )  # fmt: skip
        if data["approver_kind"] == ApproverKind.USERS:
            step.users.set(data.get("users") or [])
    after = policy_snapshot(policy)
    if before is not None:
        changes = diff(
            {k: v for k, v in before.items() if k != "revision"}, {k: v for k, v in after.items() if k != "revision"}
        )
        if not changes:
            # Nothing changed: keep the revision and the step rows as they were. No query may follow
            # set_rollback() inside this block, so the policy is returned as read before the save.
            transaction.set_rollback(True)
            return unchanged
        _check_satisfiable(policy)  # a no-op save is never refused, even if the teams changed since
        policy.revision += 1
        policy.save(update_fields=["revision", "updated_at"])
        changes["revision"] = [before["revision"], policy.revision]
        record(action=Action.POLICY_CHANGED, actor=actor, target=policy, changes=changes)
    else:
        _check_satisfiable(policy)
        record(
            action=Action.POLICY_CREATED,
            actor=actor,
            target=policy,
            changes={key: [None, value] for key, value in after.items() if key not in ("id", "revision")},
        )
    return policy
