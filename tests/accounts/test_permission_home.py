"""One home for every permission rule: no module under apps/ but accounts/permissions.py decides by role names.

A rule like "approvers and admins may approve" written anywhere else drifts from ROLE_ACTIONS the day a role
changes; the code must ask accounts.permissions (can, require, holders, role_allows, ...) instead. The check reads
each module's syntax tree, so it catches decisions, not words in comments or messages:

- `Role.ADMIN` (any member of the Role enum), except as a model field's `default=`;
- `role__in=` in a query, as a keyword or a `**{...}` key;
- `role="approver"`: a role name given to a query keyword;
- a role name in a comparison (`== "admin"`, `in {...}`), or a name bound to role names (`X = {"approver", "admin"}`).

`Role.values` and `Role.choices` (validating input, form choices), the Role enum's own definition, a field's
default and names that happen to match a role (the `approver` field of a decision) are not decisions and pass.
"""

import ast
from pathlib import Path

import pytest

from apps.accounts.models import Role

ROOT = Path(__file__).resolve().parents[2]
HOME = "apps/accounts/permissions.py"
# Files that may name roles, and why. Keep this short: every entry is a place a rule could hide.
ALLOWED = {
    "apps/demo/demo_data.py": "the demo's cast: which role each demo person is given (data for load_demo)",
}
ROLE_MEMBERS = frozenset(Role.names)
ROLE_VALUES = frozenset(Role.values)


def _is_role_name(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ROLE_VALUES


def _names_a_role(node) -> bool:
    """A role-name literal, or a literal collection (or set()/frozenset() of one) holding one."""
    if _is_role_name(node):
        return True
    if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
        return any(_is_role_name(element) for element in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("set", "frozenset"):
        return any(_names_a_role(arg) for arg in node.args)
    return False


def _choices_bodies(tree) -> set[int]:
    """Ids of the nodes inside TextChoices-like classes: the Role enum's own definition names every role."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            getattr(base, "attr", getattr(base, "id", "")).endswith("Choices") for base in node.bases
        ):
            inside.update(id(child) for statement in node.body for child in ast.walk(statement))
    return inside


def role_decisions(source: str) -> list[int]:
    """Line numbers where `source` decides by role names."""
    tree = ast.parse(source)
    skipped = _choices_bodies(tree)
    skipped |= {id(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "default"}
    lines = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Role":
            if node.attr in ROLE_MEMBERS:
                lines.add(node.lineno)
        elif isinstance(node, ast.keyword) and (
            node.arg == "role__in" or (node.arg == "role" and _is_role_name(node.value))
        ):
            lines.add(node.value.lineno)
        elif isinstance(node, ast.Dict):
            if any(isinstance(key, ast.Constant) and key.value == "role__in" for key in node.keys):
                lines.add(node.lineno)
        elif isinstance(node, ast.Compare):
            if any(_names_a_role(side) for side in (node.left, *node.comparators)):
                lines.add(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _names_a_role(node.value):
            lines.add(node.lineno)  # a rule kept for later: ROLES = {"approver", "admin"}
    return sorted(lines)


def modules():
    for path in sorted((ROOT / "apps").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative == HOME or "/migrations/" in relative or relative in ALLOWED:
            continue
        yield relative, path


def test_no_module_but_accounts_permissions_decides_by_role_names():
    found = []
    for relative, path in modules():
        source = path.read_text()
        for line in role_decisions(source):
            found.append(f"{relative}:{line}: {source.splitlines()[line - 1].strip()}")
    assert found == [], "Ask apps/accounts/permissions.py instead of comparing role names:\n" + "\n".join(found)


def test_the_allowlist_names_files_that_exist_and_still_need_it():
    for relative in ALLOWED:
        assert role_decisions((ROOT / relative).read_text()), f"{relative} no longer names roles: drop it from ALLOWED"


@pytest.mark.parametrize(
    "source",
    [
        'APPROVING_ROLES = frozenset({"approver", "admin"})',
        "if membership.role == Role.ADMIN:\n    pass",
        "Membership.objects.filter(team_id=1, role__in=[Role.CONTRIBUTOR, Role.ADMIN])",
        "Membership.objects.filter(team_id=1, role__in=APPROVING_ROLES)",
        'Membership.objects.filter(role="auditor")',
        "Q(**{'role__in': roles})",
        'allowed = role in ("contributor", "admin")',
        "SERVICE_ROLES = (Role.CONTRIBUTOR, Role.AUDITOR)",
    ],
)
def test_the_check_catches_the_rules_it_was_written_for(source):
    assert role_decisions(source) == [1]


@pytest.mark.parametrize(
    "source",
    [
        "role = models.CharField(max_length=20, choices=Role.choices, blank=True, default=Role.APPROVER)",
        'if role not in Role.values:\n    raise ValidationError({"role": "Unknown role"})',
        "permissions.holders(permissions.APPROVE, team_id=team_id)",
        'message = "Only the team\'s admins can grant roles; an approver cannot."',
        'Membership.objects.filter(team_id=model_team_id, role=rule["role"])',
        'constraints = [UniqueConstraint(fields=["request", "approver"], name="one_decision")]',
        'class Role(models.TextChoices):\n    ADMIN = "admin", "Admin"',
    ],
)
def test_the_check_lets_choices_validation_and_messages_pass(source):
    assert role_decisions(source) == []
