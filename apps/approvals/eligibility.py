"""Database facts the pure rules in policies.py need: who holds which role, who may staff a step."""

from collections import defaultdict

from apps.accounts import permissions
from apps.accounts.models import Membership

from . import policies
from .models import ApproverKind


def step_rule(step) -> dict:
    """The approver rule of a PolicyStep or RequestStep as plain data (users must be prefetched)."""
    return {
        "approver_kind": step.approver_kind,
        "role": step.role,
        "team_id": step.team_id,
        "team_name": step.team.name if step.team_id else None,
        "user_ids": sorted(user.pk for user in step.users.all() if user.is_active),
    }


def roles_of(user) -> dict[int, set[str]]:
    """team id → the roles `user` holds there, read now (eligibility is decided at decision time)."""
    roles: dict[int, set[str]] = defaultdict(set)
    for team_id, role in Membership.objects.filter(user=user, user__is_active=True).values_list("team_id", "role"):
        roles[team_id].add(role)
    return roles


def eligible_user_ids(rule: dict, model_team_id: int) -> set[int]:
    """Everyone who may decide a step with this rule for a model of `model_team_id`, as of now."""
    if rule["approver_kind"] == ApproverKind.USERS:
        return set(rule["user_ids"])
    if rule["approver_kind"] == ApproverKind.ROLE:
        if not permissions.role_allows([rule["role"]], permissions.APPROVE):  # a policy saved before the rule
            return set()
        members = Membership.objects.filter(team_id=model_team_id, role=rule["role"], user__is_active=True)
    else:  # a team: whoever may approve there
        members = permissions.holders(permissions.APPROVE, team_id=rule["team_id"])
    return set(members.values_list("user_id", flat=True))


def unstaffable_step(rules: list[tuple[int, dict]], model_team_id: int, requester_id: int | None) -> int | None:
    """Index of the first step that cannot get its quorum of distinct people, or None if all can."""
    slots = [(quorum, eligible_user_ids(rule, model_team_id)) for quorum, rule in rules]
    return policies.can_staff(slots, excluded={requester_id} if requester_id else set())
