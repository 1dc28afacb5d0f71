"""Team pages: members and roles, granted and revoked through the browser by the team's admins."""

import re

import pytest

from apps.accounts.models import Membership
from tests.conftest import make_user

TEAM = "/teams/credit-risk/"


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_the_team_page_lists_members_with_their_roles(client, cast):
    client.force_login(cast.vera)

    response = client.get(TEAM)

    rows = [(m.user.username, m.role) for m in response.context["memberships"]]
    assert rows == [
        ("alice", "admin"),
        ("audrey", "auditor"),
        ("bo", "approver"),
        ("dana", "contributor"),
        ("rita", "approver"),
        ("sam", "approver"),
        ("vera", "viewer"),
    ]
    assert "Grant a role" not in response.text
    assert "Revoke" not in response.text


def test_the_team_page_offers_grant_and_revoke_to_its_admins(client, cast):
    client.force_login(cast.alice)

    response = client.get(TEAM)

    assert "Grant a role" in response.text
    assert response.text.count(">Revoke</button>") == 6  # every role but alice's: she is the team's only admin


def test_the_team_page_shows_one_row_per_person_with_all_their_roles(client, cast):
    ci = make_user("svc-scorecard-ci", is_service_account=True)
    for role in ("contributor", "viewer"):
        Membership.objects.create(user=ci, team=cast.team_a, role=role)
    client.force_login(cast.alice)

    page = client.get(TEAM).text

    rows = re.findall(r'<tr data-user="([^"]+)">', page)
    assert rows == sorted(rows) and len(rows) == len(set(rows)) == 8
    row = page.split('<tr data-user="svc-scorecard-ci">')[1].split("</tr>")[0]
    assert re.findall(r'data-role="(\w+)"', row) == ["contributor", "viewer"]
    assert row.count(">Revoke</button>") == 2


def test_no_revoke_button_on_the_teams_only_admin_role(client, cast):
    client.force_login(cast.alice)

    row = client.get(TEAM).text.split('<tr data-user="alice">')[1].split("</tr>")[0]

    assert "Revoke" not in row and "the team's only admin" in row
    Membership.objects.create(user=cast.dana, team=cast.team_a, role="admin")
    row = client.get(TEAM).text.split('<tr data-user="alice">')[1].split("</tr>")[0]
    assert 'aria-label="Revoke admin from alice">Revoke</button>' in row  # a second admin: alice may step down


def test_the_grant_form_asks_for_a_person_without_a_dashes_placeholder(client, cast):
    client.force_login(cast.alice)

    page = client.get(TEAM).text

    assert '<option value="" selected>Choose a person…</option>' in page
    assert "---------" not in page


def test_an_admin_grants_a_role_through_the_page(client, cast, trail):
    client.force_login(cast.alice)

    response = client.post(f"{TEAM}grant/", {"user": cast.ben.pk, "role": "viewer"}, follow=True)

    assert response.redirect_chain == [(TEAM, 302)]
    assert "ben is now viewer." in messages_of(response)
    assert trail.actions() == ["role.granted"]
    assert Membership.objects.filter(team=cast.team_a, user=cast.ben, role="viewer").exists()


@pytest.mark.parametrize(("with_user", "role"), [(False, "viewer"), (True, "owner")], ids=["no-user", "unknown-role"])
def test_an_incomplete_grant_is_refused_with_a_message(client, cast, trail, with_user, role):
    client.force_login(cast.alice)
    data = {"role": role} | ({"user": cast.ben.pk} if with_user else {})

    response = client.post(f"{TEAM}grant/", data, follow=True)

    assert "Choose a user and a role." in messages_of(response)
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["vera", "dana", "audrey"])
def test_a_member_who_is_not_admin_cannot_grant_through_the_page(client, cast, trail, name):
    client.force_login(getattr(cast, name))

    response = client.post(f"{TEAM}grant/", {"user": getattr(cast, name).pk, "role": "admin"}, follow=True)

    assert "Only the team's admins can grant roles." in messages_of(response)
    assert not Membership.objects.filter(team=cast.team_a, user=getattr(cast, name), role="admin").exists()
    assert trail.actions() == []


def test_another_teams_admin_gets_404_and_changes_nothing(client, cast, trail):
    client.force_login(cast.ben)
    rita = Membership.objects.get(user=cast.rita)

    assert client.post(f"{TEAM}grant/", {"user": cast.ben.pk, "role": "admin"}).status_code == 404
    assert client.post(f"{TEAM}revoke/{rita.pk}/").status_code == 404
    assert Membership.objects.filter(pk=rita.pk).exists()
    assert trail.actions() == []


def test_an_admin_revokes_a_role_through_the_page(client, cast, trail):
    client.force_login(cast.alice)
    rita = Membership.objects.get(user=cast.rita)

    response = client.post(f"{TEAM}revoke/{rita.pk}/", follow=True)

    assert "Revoked approver from rita." in messages_of(response)
    assert trail.actions() == ["role.revoked"]
    assert not Membership.objects.filter(pk=rita.pk).exists()


def test_the_page_refuses_to_revoke_the_last_admin(client, cast, trail):
    client.force_login(cast.alice)
    alice = Membership.objects.get(user=cast.alice)

    response = client.post(f"{TEAM}revoke/{alice.pk}/", follow=True)

    assert "alice is the last admin of Credit Risk." in messages_of(response)
    assert Membership.objects.filter(pk=alice.pk).exists()
    assert trail.actions() == []


def test_a_membership_of_another_team_cannot_be_revoked_through_this_team(client, cast, trail):
    client.force_login(cast.admin)
    ben = Membership.objects.get(user=cast.ben)

    assert client.post(f"{TEAM}revoke/{ben.pk}/").status_code == 404
    assert Membership.objects.filter(pk=ben.pk).exists()
    assert trail.actions() == []
