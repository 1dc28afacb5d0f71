"""Portal auditors: made by a superuser in /admin/, the change on record; and account events carry their team.

A portal auditor reads the portal-wide security events (tests/audit/test_security_events.py shows what they read).
"""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import User
from apps.accounts.tokens import service_account_create, token_create, token_revoke
from apps.audit.actors import Actor


def change_form(user: User, **overrides) -> dict:
    """The admin's change form for `user` as the browser posts it (unchecked boxes are simply absent)."""
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"), "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "", "last_login_1": "",
    }  # fmt: skip
    flags = {"is_active": user.is_active, "is_staff": user.is_staff, "is_superuser": user.is_superuser,
             "is_portal_auditor": user.is_portal_auditor} | overrides  # fmt: skip
    return data | {name: "on" for name, value in flags.items() if value}


def test_a_superuser_makes_audrey_a_portal_auditor_in_the_admin_and_it_is_on_record(client, cast, trail):
    client.force_login(cast.admin)
    url = f"/admin/accounts/user/{cast.audrey.pk}/change/"
    assert 'name="is_portal_auditor"' in client.get(url).content.decode()

    response = client.post(url, change_form(cast.audrey, is_portal_auditor=True))

    assert response.status_code == 302, response.content.decode()
    assert User.objects.get(pk=cast.audrey.pk).is_portal_auditor
    [event] = trail.events()
    assert (event.action, event.actor_label, event.target_label) == ("user.updated", "admin", "audrey")
    assert event.changes == {"is_portal_auditor": [False, True]}
    assert event.team_id is None  # a person's account is portal-wide


def test_taking_it_away_is_on_record_too(client, cast, trail):
    User.objects.filter(pk=cast.audrey.pk).update(is_portal_auditor=True)
    cast.audrey.refresh_from_db()
    client.force_login(cast.admin)

    client.post(f"/admin/accounts/user/{cast.audrey.pk}/change/", change_form(cast.audrey, is_portal_auditor=False))

    assert not User.objects.get(pk=cast.audrey.pk).is_portal_auditor
    assert [(e.action, e.changes) for e in trail.events()] == [("user.updated", {"is_portal_auditor": [True, False]})]


def test_a_team_admin_cannot_make_anyone_a_portal_auditor(cast, trail):
    audrey = User.objects.get(pk=cast.audrey.pk)
    audrey.is_portal_auditor = True

    with pytest.raises(PermissionDenied, match=r"Only administrators can edit users\."):
        services.user_save_from_admin(actor=Actor.of(cast.alice), user=audrey)

    assert not User.objects.get(pk=cast.audrey.pk).is_portal_auditor
    assert trail.events() == []


def test_a_service_account_cannot_be_a_portal_auditor(client, cast, trail):
    with transaction.atomic():
        account = service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name="churn-ci")
    start = len(trail.events())
    client.force_login(cast.admin)

    response = client.post(f"/admin/accounts/user/{account.pk}/change/", change_form(account, is_portal_auditor=True))

    assert response.status_code == 200
    assert "A service account acts for one team, not as a portal auditor." in response.content.decode()
    assert not User.objects.get(pk=account.pk).is_portal_auditor
    assert len(trail.events()) == start


# --- events about service accounts and tokens are their team's ------------------------------------------------


def readers_of(cast, action) -> dict[str, int]:
    """How many `action` events each of audrey (Credit Risk's auditor), alice and ben reads over the API."""
    found = {}
    for name in ("audrey", "alice", "ben"):
        client = APIClient()
        client.force_login(getattr(cast, name))
        response = client.get("/api/v1/audit/events/", {"action": action})
        assert response.status_code == 200
        found[name] = len(response.json()["results"])
    return found


def test_service_account_and_token_events_carry_the_team_and_stay_in_it(cast, trail):
    with transaction.atomic():
        account = service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name="churn-ci")
        token, _ = token_create(actor=Actor.of(cast.alice), account=account, name="deploys", scopes=["read"])
        token_revoke(actor=Actor.of(cast.alice), token=token)

    events = trail.events()
    assert [e.action for e in events] == ["service_account.created", "token.created", "token.revoked"]
    assert {e.team_id for e in events} == {cast.team_a.pk}
    for action in ("service_account.", "token."):
        counts = readers_of(cast, action)
        assert counts["ben"] == 0, action  # Fraud's admin never learns of Credit Risk's pipelines
        assert counts["audrey"] == counts["alice"] > 0, action
