"""restrict(): core asks, accounts.permissions answers through the gate it installs; without a gate, no rows."""

from django.contrib.auth.models import AnonymousUser

from apps.accounts import permissions
from apps.accounts.models import Team, User
from apps.core import querysets


def test_accounts_installs_its_answer_as_the_gate():
    assert querysets._gate is permissions.read_scope


def test_restrict_answers_as_accounts_permissions_says(cast):
    User.objects.filter(pk=cast.vera.pk).update(is_active=False)
    cast.vera.refresh_from_db()

    assert list(Team.objects.restrict(AnonymousUser())) == []
    assert list(Team.objects.restrict(cast.vera)) == []  # deactivated
    assert list(Team.objects.restrict(cast.admin)) == [cast.team_a, cast.team_b]  # superuser
    assert list(Team.objects.restrict(cast.ben)) == [cast.team_b]  # the model's restrict_for()


def test_without_a_gate_restrict_reads_nothing_not_everything(cast):
    querysets.set_gate(None)
    try:
        assert list(Team.objects.restrict(cast.admin)) == []
    finally:
        querysets.set_gate(permissions.read_scope)
