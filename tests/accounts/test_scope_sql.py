"""restrict()'s scope is SQL written by hand (permissions.Scope): it must grant exactly what the roles and guardian's
object permissions grant, for every kind of user, in a web request (literal team ids) and outside one (a subquery)."""

import pytest
from django.contrib.auth.models import Group
from django.db.models import Q
from guardian.shortcuts import assign_perm, get_objects_for_user

from apps.accounts import permissions
from apps.accounts.models import Membership, Role
from apps.audit.actors import Actor
from apps.core import request_context
from apps.core.request_context import RequestContext
from apps.inventory import services as inventory
from apps.inventory.models import ModelVersion, RegisteredModel
from tests.conftest import make_user

ACTIONS = (permissions.VIEW, permissions.CHANGE, permissions.APPROVE)


@pytest.fixture
def grants(cast, models):
    """Beside the cast's roles: vera may view Fraud's detector directly, sam's group may change it, a user with no
    role at all holds only a direct grant, and a deactivated contributor and a bare user hold nothing that counts."""
    third = inventory.registered_model_register(
        actor=Actor.of(cast.ben), team=cast.team_b, name="Chargeback Ranker", risk_tier="low"
    )
    assign_perm("inventory.view_registeredmodel", cast.vera, models.detector)
    group = Group.objects.create(name="fraud reviewers")
    group.user_set.add(cast.sam)
    assign_perm("inventory.change_registeredmodel", group, models.detector)
    outsider = make_user("olga")
    assign_perm("inventory.view_registeredmodel", outsider, third)
    gone = make_user("gone", is_active=False)
    Membership.objects.create(user=gone, team=cast.team_a, role=Role.CONTRIBUTOR)
    return [cast.dana, cast.rita, cast.sam, cast.vera, cast.audrey, cast.alice, cast.ben, cast.admin, outsider, gone,
            make_user("nobody")]  # fmt: skip


def expected_models(user, action) -> set[int]:
    """The models `user` may `action`, read without restrict(): their teams' roles, guardian's own answer for object
    grants, everything for a superuser and nothing for a deactivated user."""
    if not user.is_active:
        return set()
    if user.is_superuser:
        return set(RegisteredModel.objects.values_list("pk", flat=True))
    teams = [m.team_id for m in Membership.objects.filter(user=user) if permissions.role_allows([m.role], action)]
    by_role = set(RegisteredModel.objects.filter(team_id__in=teams).values_list("pk", flat=True))
    verb = permissions.OBJECT_PERMISSIONS.get(action)
    if not verb:
        return by_role
    granted = get_objects_for_user(
        user, f"inventory.{verb}_registeredmodel", klass=RegisteredModel, with_superuser=False,
        accept_global_perms=False,
    )  # fmt: skip
    return by_role | set(granted.values_list("pk", flat=True))


def restricted(user, action) -> tuple[set[int], set[int]]:
    models = set(RegisteredModel.objects.restrict(user, action).values_list("pk", flat=True))
    versions = set(ModelVersion.objects.restrict(user, action).values_list("pk", flat=True))
    return models, versions


@pytest.mark.parametrize("in_a_web_request", [False, True], ids=["task", "page"])
def test_restrict_grants_exactly_what_roles_and_object_permissions_grant(grants, in_a_web_request):
    tokens = None
    if in_a_web_request:  # the page's memo: team ids written into the SQL as literals
        tokens = request_context.activate(RequestContext(request_id="scope", source="web"), with_memo=True)
    try:
        seen = set()
        for user in grants:
            for action in ACTIONS:
                models, versions = restricted(user, action)
                expected = expected_models(user, action)
                assert models == expected, (user.username, action)
                assert versions == set(ModelVersion.objects.filter(model__in=expected).values_list("pk", flat=True))
                seen.add((user.username, action, len(expected)))
    finally:
        if tokens:
            request_context.deactivate(tokens)
    # The cases are not all alike: some see nothing, some everything, some exactly one granted model.
    assert {count for *_, count in seen} >= {0, 1, 3}
    assert ("vera", permissions.VIEW, 2) in seen and ("sam", permissions.CHANGE, 1) in seen
    assert ("olga", permissions.VIEW, 1) in seen and ("gone", permissions.VIEW, 0) in seen


def test_the_scope_combines_with_other_conditions_and_joins(grants, cast, models):
    """A version list filtered on its model's name, ORed with a condition of its own, still obeys the scope."""
    visible = ModelVersion.objects.restrict(cast.vera).filter(Q(model__name__icontains="fraud") | Q(version="1.0.0"))
    assert sorted(visible.values_list("model__name", "version")) == [
        ("Card Fraud Detector", "3.0.0"),
        ("Retail Scorecard", "1.0.0"),
    ]
    assert not ModelVersion.objects.restrict(cast.vera, permissions.CHANGE).exists()
