"""Pure approval rules: no queries, no clock. Services gather the facts and ask here."""

import operator
from dataclasses import dataclass

from apps.accounts import permissions

OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


# --- which policy governs a request -------------------------------------------------------------


def policy_matches(policy_environment_id: int | None, policy_tiers: list[str], environment_id: int, tier: str) -> bool:
    return (policy_environment_id in (None, environment_id)) and (not policy_tiers or tier in policy_tiers)


def specificity_key(policy_environment_id: int | None, policy_tiers: list[str]) -> tuple:
    """Sorts the most specific first: a named environment beats 'any'; then fewer listed tiers beat more or 'any'."""
    return (policy_environment_id is None, len(policy_tiers) or 99)


def choose_policy(candidates: list, environment_id: int, tier: str):
    """The most specific policy matching the environment and tier; ties go to the lowest id.

    candidates: objects with environment_id, risk_tiers and pk.
    """
    matching = [p for p in candidates if policy_matches(p.environment_id, p.risk_tiers, environment_id, tier)]
    if not matching:
        return None
    return min(matching, key=lambda p: (*specificity_key(p.environment_id, p.risk_tiers), p.pk))


# --- automated checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    key: str
    label: str
    passed: bool
    detail: str

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class CheckFacts:
    """What the checks look at, gathered by the service."""

    has_model_card: bool
    digest: str
    metrics: dict
    previous_environment: str | None  # name of the environment before this one, if any
    approved_for_previous: bool
    validation_due: str | None  # ISO date or None
    validation_overdue: bool


def threshold_error(rule) -> str | None:
    """Why a metric threshold rule is malformed, or None."""
    if not isinstance(rule, dict) or set(rule) != {"metric", "op", "value"}:
        return 'Each threshold is {"metric": name, "op": one of >= > <= < ==, "value": number}.'
    if not isinstance(rule["metric"], str) or not rule["metric"]:
        return "A threshold needs a metric name."
    if rule["op"] not in OPERATORS:
        return f"Unknown operator {rule['op']!r} for {rule['metric']}: use one of {' '.join(OPERATORS)}."
    if isinstance(rule["value"], bool) or not isinstance(rule["value"], (int, float)):
        return f"The threshold for {rule['metric']} must be a number."
    return None


def evaluate_checks(policy, facts: CheckFacts) -> list[CheckResult]:
    """Each check the policy asks for, passed or failed with the reason in plain words."""
    results = []
    if policy.get("require_model_card"):
        results.append(CheckResult("model_card", "Model card present", facts.has_model_card,
                                   "The version has a model card." if facts.has_model_card
                                   else "The version has no model card."))  # fmt: skip
    if policy.get("require_digest"):
        ok = bool(facts.digest)
        results.append(
            CheckResult(
                "digest",
                "Artifact digest present",
                ok,
                f"sha256:{facts.digest}" if ok else "The version has no artifact SHA-256 digest.",
            )
        )
    for rule in policy.get("metric_thresholds", []):
        name, op, threshold = rule["metric"], rule["op"], rule["value"]
        value = facts.metrics.get(name)
        label = f"{name} {op} {threshold}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            results.append(CheckResult(f"metric:{name}", label, False, f"The version reports no {name}."))
        else:
            ok = OPERATORS[op](value, threshold)
            results.append(CheckResult(f"metric:{name}", label, ok, f"{name} is {value}"))
    if policy.get("require_previous_environment"):
        if facts.previous_environment is None:
            results.append(CheckResult("promotion", "Promotion order", True, "This is the first environment."))
        else:
            ok = facts.approved_for_previous
            detail = (f"Approved for {facts.previous_environment}." if ok
                      else f"Not yet approved for {facts.previous_environment}: promote through it first.")  # fmt: skip
            results.append(CheckResult("promotion", "Promotion order", ok, detail))
    if policy.get("require_current_validation"):
        ok = not facts.validation_overdue
        if facts.validation_due is None:
            detail = "No periodic validation is scheduled."
        else:
            detail = f"Next validation due {facts.validation_due}" + ("." if ok else ": overdue.")
        results.append(CheckResult("validation", "Model validation current", ok, detail))
    return results


# --- who may decide -----------------------------------------------------------------------------


def eligibility(step: dict, user_id: int, roles: dict[int, set[str]], model_team_id: int) -> str | None:
    """Why `user_id` may decide `step` (a sentence kept with the decision), or None if they may not.

    step: {"approver_kind", "role", "team_id", "team_name", "user_ids"}; roles: team id → the user's roles.
    """
    kind = step["approver_kind"]
    if (
        kind == "role"
        and step["role"] in roles.get(model_team_id, set())
        and permissions.role_allows([step["role"]], permissions.APPROVE)
    ):
        return f"holds the {step['role']} role in the model's team"
    if kind == "team" and permissions.role_allows(roles.get(step["team_id"], ()), permissions.APPROVE):
        return f"approver in {step.get('team_name') or 'the named team'}"
    if kind == "users" and user_id in step["user_ids"]:
        return "named approver of this step"
    return None


def decision_refusal(
    *, user_id: int, requester_id: int, eligible_reason: str | None, decided_step_orders: dict, step_order: int
) -> str | None:
    """Separation of duties: why this person may not decide this step now, or None.

    decided_step_orders: user id → order of the step they already decided in this round.
    """
    if user_id == requester_id:
        return "You requested this deployment, so you cannot approve it. You may withdraw it instead."
    previous = decided_step_orders.get(user_id)
    if previous is not None and previous != step_order:
        return f"You already decided step {previous} of this request; one person decides at most one step."
    if previous is not None:
        return "You already decided this step; a decision cannot be changed."
    if eligible_reason is None:
        return "You are not an eligible approver for the open step."
    return None


def can_staff(slots: list[tuple[int, set[int]]], excluded: set[int] = frozenset()) -> int | None:
    """Can every step get its quorum of distinct people, no one serving two steps?

    slots: (quorum, eligible user ids) per step, in order. Returns None when it can, or the
    index of the first step that cannot be staffed. Bipartite matching (augmenting paths):
    the numbers are small (a few steps, tens of people).
    """
    seats = [(index, eligible - excluded) for index, (quorum, eligible) in enumerate(slots) for _ in range(quorum)]
    holder: dict[int, int] = {}  # user id → seat index

    def assign(seat: int, seen: set[int]) -> bool:
        for user in sorted(seats[seat][1]):
            if user in seen:
                continue
            seen.add(user)
            if user not in holder or assign(holder[user], seen):
                holder[user] = seat
                return True
        return False

    for seat in range(len(seats)):
        if not assign(seat, set()):
            return seats[seat][0]
    return None


def step_complete(approvals: int, quorum: int) -> bool:
    return approvals >= quorum
