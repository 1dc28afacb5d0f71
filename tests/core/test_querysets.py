"""restrict(): core asks, accounts.permissions answers through the gate and rules it installs; without them, no rows."""

from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from apps.accounts import permissions
from apps.accounts.models import Team, User
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import READABLE_TEAMS, READS_SECURITY_EVENTS, AuditEvent
from apps.audit.services import Target, record
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


def _security_event():
    with transaction.atomic():
        return record(action=Action.USER_LOGIN_FAILED, actor=Actor.system("login"),
                      target=Target("accounts.user", label="nobody"))  # fmt: skip


def test_audit_asks_accounts_through_rules_and_reads_nothing_without_them(cast, models):
    event = _security_event()
    rules = {name: querysets.rule(name) for name in (READABLE_TEAMS, READS_SECURITY_EVENTS)}
    assert AuditEvent.objects.restrict(cast.audrey).exists()  # a team auditor reads their team's trail
    assert AuditEvent.objects.filter(pk=event.pk).readable_by(cast.admin).exists()  # superusers read security events

    for name in rules:
        querysets.set_rule(name, None)
    try:
        assert not AuditEvent.objects.restrict(cast.audrey).exists()
        assert not AuditEvent.objects.filter(pk=event.pk).readable_by(cast.admin).exists()
    finally:
        for name, rule in rules.items():
            querysets.set_rule(name, rule)


def test_in_list_sql_makes_every_value_a_parameter_and_an_empty_list_matches_nothing(cast):
    from django.db import connection

    def names(values):
        sql, params = querysets.in_list_sql(values)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT name FROM {Team._meta.db_table} WHERE slug {sql} ORDER BY name", params)
            return [row[0] for row in cursor.fetchall()]

    assert names([cast.team_a.slug, "x'); DROP TABLE accounts_team; --"]) == [cast.team_a.name]
    assert names([cast.team_a.slug, cast.team_b.slug]) == sorted([cast.team_a.name, cast.team_b.name])
    assert names([]) == [] and querysets.in_list_sql([]) == ("IN (NULL)", [])
    assert Team.objects.count() == 2  # the quote in a value stayed a value
