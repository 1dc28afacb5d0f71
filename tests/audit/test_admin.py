"""The admin's audit event list shows a reader what /audit/ shows them, and no more."""

import pytest
from django.contrib.auth.models import Permission

from apps.accounts import services as accounts
from apps.audit.models import AuditEvent

CHANGELIST = "/admin/audit/auditevent/"


@pytest.fixture
def staff_auditor(cast):
    """audrey, team A's auditor, made staff and given the model's view permission (what an admin might do)."""
    cast.audrey.is_staff = True
    cast.audrey.save(update_fields=["is_staff"])
    cast.audrey.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return cast.audrey


def listed(client, user) -> str:
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    return response.content.decode()


def test_a_staff_auditor_sees_their_teams_events_but_not_another_teams_nor_security_events(
    client, cast, models, staff_auditor
):
    accounts.login_failed(username="attempted-name-xyz")
    other_team = AuditEvent.objects.filter(team_id=cast.team_b.pk).first()
    own_team = AuditEvent.objects.filter(team_id=cast.team_a.pk).first()
    assert other_team and own_team

    page = listed(client, staff_auditor)

    assert f"/admin/audit/auditevent/{own_team.pk}/change/" in page
    assert f"/admin/audit/auditevent/{other_team.pk}/change/" not in page
    assert "attempted-name-xyz" not in page
    assert client.get(f"/admin/audit/auditevent/{other_team.pk}/change/").status_code in (302, 404)


def test_a_superuser_sees_every_event(client, cast, models):
    accounts.login_failed(username="attempted-name-xyz")
    page = listed(client, cast.admin)
    assert "attempted-name-xyz" in page
    assert all(
        f"/admin/audit/auditevent/{pk}/change/" in page for pk in AuditEvent.objects.values_list("pk", flat=True)
    )
