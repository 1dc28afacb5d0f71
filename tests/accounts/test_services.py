"""Accounts services: roles, object permissions, teams and sign-ins, each change on the audit trail."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from apps.accounts import services
from apps.accounts.models import Membership, Team
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from tests.conftest import PASSWORD


def memberships(team, user):
    return sorted(Membership.objects.filter(team=team, user=user).values_list("role", flat=True))


# --- roles ----------------------------------------------------------------------------------------------------------


def test_granting_a_role_records_role_granted(cast, trail):
    membership = services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.ben, role="viewer")

    [event] = trail.events()
    assert event.action == "role.granted"
    assert (event.actor_label, event.target_type, event.target_id) == (
        "alice",
        "accounts.membership",
        str(membership.pk),
    )
    assert event.team_id == cast.team_a.pk
    assert event.changes == {"user": [None, "ben"], "role": [None, "viewer"], "team": [None, "Credit Risk"]}
    assert membership.granted_by == cast.alice
    assert memberships(cast.team_a, cast.ben) == ["viewer"]


def test_granting_a_role_already_held_writes_nothing(cast, trail):
    first = services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.ben, role="viewer")
    second = services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.ben, role="viewer")

    assert second.pk == first.pk
    assert trail.actions() == ["role.granted"]
    assert memberships(cast.team_a, cast.ben) == ["viewer"]


def test_a_person_may_hold_several_roles_in_one_team(cast, trail):
    services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.dana, role="approver")

    assert memberships(cast.team_a, cast.dana) == ["approver", "contributor"]
    assert trail.actions() == ["role.granted"]


def test_a_superuser_may_grant_roles_in_any_team(cast, trail):
    services.membership_grant(actor=Actor.of(cast.admin), team=cast.team_b, user=cast.vera, role="auditor")

    assert memberships(cast.team_b, cast.vera) == ["auditor"]
    assert trail.actions() == ["role.granted"]


@pytest.mark.parametrize("name", ["dana", "rita", "audrey", "vera", "ben"])
def test_only_the_teams_admins_can_grant_roles(cast, trail, name):
    before = Membership.objects.count()

    with pytest.raises(PermissionDenied, match="Only the team's admins can grant roles"):
        services.membership_grant(actor=Actor.of(getattr(cast, name)), team=cast.team_a, user=cast.ben, role="admin")

    assert Membership.objects.count() == before
    assert trail.actions() == []


def test_granting_an_unknown_role_is_refused(cast, trail):
    with pytest.raises(ValidationError) as caught:
        services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.ben, role="owner")

    assert caught.value.message_dict == {
        "role": ["Unknown role 'owner'; choose one of viewer, contributor, approver, auditor, admin."]
    }
    assert memberships(cast.team_a, cast.ben) == []
    assert trail.actions() == []


def test_a_deactivated_user_cannot_be_given_a_role(cast, trail):
    cast.ben.is_active = False
    cast.ben.save()

    with pytest.raises(ValidationError) as caught:
        services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.ben, role="viewer")

    assert caught.value.message_dict == {"user": ["ben is deactivated and cannot be given a role."]}
    assert trail.actions() == []


def test_revoking_a_role_records_role_revoked(cast, trail):
    membership = Membership.objects.get(team=cast.team_a, user=cast.rita)

    services.membership_revoke(actor=Actor.of(cast.alice), membership=membership)

    [event] = trail.events()
    assert event.action == "role.revoked"
    assert (event.actor_label, event.target_id, event.team_id) == ("alice", str(membership.pk), cast.team_a.pk)
    assert event.changes == {"user": ["rita", None], "role": ["approver", None]}
    assert memberships(cast.team_a, cast.rita) == []


def test_the_last_admin_of_a_team_cannot_be_revoked(cast, trail):
    membership = Membership.objects.get(team=cast.team_a, user=cast.alice)

    with pytest.raises(ValidationError) as caught:
        services.membership_revoke(actor=Actor.of(cast.alice), membership=membership)

    assert caught.value.messages == ["alice is the last admin of Credit Risk."]
    assert memberships(cast.team_a, cast.alice) == ["admin"]
    assert trail.actions() == []


def test_an_admin_can_step_down_once_another_admin_exists(cast, trail):
    services.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.sam, role="admin")
    membership = Membership.objects.get(team=cast.team_a, user=cast.alice)

    services.membership_revoke(actor=Actor.of(cast.alice), membership=membership)

    assert trail.actions() == ["role.granted", "role.revoked"]
    assert memberships(cast.team_a, cast.alice) == []
    assert memberships(cast.team_a, cast.sam) == ["admin", "approver"]


@pytest.mark.parametrize("name", ["dana", "vera", "audrey", "ben"])
def test_only_the_teams_admins_can_revoke_roles(cast, trail, name):
    membership = Membership.objects.get(team=cast.team_a, user=cast.rita)

    with pytest.raises(PermissionDenied, match="Only the team's admins can revoke roles"):
        services.membership_revoke(actor=Actor.of(getattr(cast, name)), membership=membership)

    assert memberships(cast.team_a, cast.rita) == ["approver"]
    assert trail.actions() == []


def test_an_approver_whose_role_is_revoked_can_no_longer_open_the_model(cast, models, client):
    client.force_login(cast.rita)
    url = f"/models/{models.scorecard.slug}/"
    assert client.get(url).status_code == 200

    services.membership_revoke(
        actor=Actor.of(cast.alice), membership=Membership.objects.get(team=cast.team_a, user=cast.rita)
    )

    assert client.get(url).status_code == 404
    assert client.get(f"{url}versions/1.0.0/").status_code == 404


# --- object permissions ---------------------------------------------------------------------------------------------


def test_granting_an_object_permission_records_permission_granted(cast, models, trail, client):
    client.force_login(cast.ben)
    assert client.get(f"/models/{models.scorecard.slug}/").status_code == 404

    services.object_permission_grant(actor=Actor.of(cast.alice), user=cast.ben, action="view", obj=models.scorecard)

    [event] = trail.events()
    assert event.action == "permission.granted"
    assert (event.actor_label, event.target_type, event.target_id) == (
        "alice",
        "inventory.registeredmodel",
        str(models.scorecard.pk),
    )
    assert (event.team_id, event.model_id) == (cast.team_a.pk, models.scorecard.pk)
    assert event.changes == {"user": [None, "ben"], "permission": [None, "view_registeredmodel"]}
    assert client.get(f"/models/{models.scorecard.slug}/").status_code == 200


def test_granting_an_object_permission_twice_writes_one_event(cast, models, trail):
    for _ in range(2):
        services.object_permission_grant(
            actor=Actor.of(cast.alice), user=cast.ben, action="change", obj=models.scorecard
        )

    assert trail.actions() == ["permission.granted"]


def test_revoking_an_object_permission_records_permission_revoked(cast, models, trail, client):
    services.object_permission_grant(actor=Actor.of(cast.alice), user=cast.ben, action="view", obj=models.scorecard)

    services.object_permission_revoke(actor=Actor.of(cast.alice), user=cast.ben, action="view", obj=models.scorecard)
    services.object_permission_revoke(actor=Actor.of(cast.alice), user=cast.ben, action="view", obj=models.scorecard)

    assert trail.actions() == ["permission.granted", "permission.revoked"]
    assert trail.events()[1].changes == {"user": ["ben", None], "permission": ["view_registeredmodel", None]}
    client.force_login(cast.ben)
    assert client.get(f"/models/{models.scorecard.slug}/").status_code == 404


@pytest.mark.parametrize("action", ["approve", "view_audit", "manage_team"])
def test_only_view_and_change_can_be_granted_per_object(cast, models, trail, action):
    with pytest.raises(ValidationError) as caught:
        services.object_permission_grant(actor=Actor.of(cast.alice), user=cast.ben, action=action, obj=models.scorecard)

    assert "cannot be granted per object; grant a team role instead" in caught.value.message_dict["action"][0]
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["dana", "vera", "audrey", "ben"])
def test_only_the_owning_teams_admins_can_share_a_model(cast, models, trail, name):
    with pytest.raises(PermissionDenied, match="Only the owning team's admins can grant"):
        services.object_permission_grant(
            actor=Actor.of(getattr(cast, name)), user=cast.sam, action="change", obj=models.scorecard
        )

    assert not cast.sam.has_perm("inventory.change_registeredmodel", models.scorecard)
    assert trail.actions() == []


def test_only_the_owning_teams_admins_can_revoke_a_share(cast, models, trail):
    services.object_permission_grant(actor=Actor.of(cast.alice), user=cast.sam, action="view", obj=models.scorecard)

    with pytest.raises(PermissionDenied, match="Only the owning team's admins can revoke"):
        services.object_permission_revoke(actor=Actor.of(cast.ben), user=cast.sam, action="view", obj=models.scorecard)

    assert trail.actions() == ["permission.granted"]


# --- teams ----------------------------------------------------------------------------------------------------------


def test_a_superuser_creates_a_team_and_it_is_recorded(cast, trail):
    team = services.team_create(actor=Actor.of(cast.admin), name=" Payments ", description="Card payments.")

    assert (team.name, team.slug) == ("Payments", "payments")
    [event] = trail.events()
    assert (event.action, event.actor_label, event.target_id) == ("team.created", "admin", str(team.pk))
    assert event.changes == {"name": [None, "Payments"]}


@pytest.mark.parametrize("name", ["alice", "ben", "dana"])
def test_only_superusers_create_teams(cast, trail, name):
    with pytest.raises(PermissionDenied, match="Only administrators can create teams"):
        services.team_create(actor=Actor.of(getattr(cast, name)), name="Payments")

    assert not Team.objects.filter(name="Payments").exists()
    assert trail.actions() == []


def test_a_team_name_is_used_once(cast, trail):
    with pytest.raises(ValidationError) as caught:
        services.team_create(actor=Actor.of(cast.admin), name="Fraud")

    assert "name" in caught.value.message_dict
    assert Team.objects.filter(name="Fraud").count() == 1
    assert trail.actions() == []


# --- signing in -----------------------------------------------------------------------------------------------------


def test_signing_in_records_user_logged_in(cast, trail, client):
    response = client.post("/accounts/login/", {"username": "dana", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    [event] = trail.events()
    assert (event.action, event.actor_id, event.actor_label, event.actor_kind) == (
        "user.logged_in",
        cast.dana.pk,
        "dana",
        "user",
    )
    assert (event.target_type, event.target_id) == ("accounts.user", str(cast.dana.pk))
    assert event.context["source"] == "web"
    assert event.context["client_ip"] == "127.0.0.1"


def test_signing_in_follows_next(cast, models, client):
    response = client.post(
        "/accounts/login/?next=/models/retail-scorecard/", {"username": "vera", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/models/retail-scorecard/"


@pytest.mark.parametrize("username", ["dana", "nobody"])
def test_a_wrong_password_records_user_login_failed_by_the_system(cast, trail, client, username):
    response = client.post("/accounts/login/", {"username": username, "password": "wrong"})

    assert response.status_code == 200
    assert "Your username and password did not match." in response.text
    assert "_auth_user_id" not in client.session
    [event] = trail.events()
    assert (event.action, event.actor_id, event.actor_label, event.actor_kind) == (
        "user.login_failed",
        None,
        "auth",
        "system",
    )
    assert (event.target_type, event.target_label) == ("accounts.user", username)


def test_signing_out_records_user_logged_out(cast, trail):
    client = Client()
    client.force_login(cast.dana)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert trail.actions() == ["user.logged_out"]
    assert AuditEvent.objects.get(action="user.logged_out").actor_label == "dana"
    assert client.get("/models/").status_code == 302


def test_a_deactivated_user_cannot_sign_in(cast, trail, client):
    cast.dana.is_active = False
    cast.dana.save()

    response = client.post("/accounts/login/", {"username": "dana", "password": PASSWORD})

    assert response.status_code == 200
    assert trail.actions() == ["user.login_failed"]
