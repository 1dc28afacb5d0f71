"""Security events belong to portal auditors: sign-ins, failed signatures and rejected webhooks are kept out of every
team's trail and out of the histories on model, version and request pages.

The story: dana signs in and out, someone fails to sign in as ben, and rita types a wrong password when signing
dana's staging request. audrey audits Credit Risk, alice and ben administer Credit Risk and Fraud, vera views:
none of them reads any of it. `admin` (a superuser) does, and so does a portal auditor.
Runs on real transactions: a failed signature is committed even though the decision it guarded is refused.
"""

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import User
from apps.accounts.tokens import service_account_create, token_create
from apps.approvals import services as approvals
from apps.audit.actions import SECURITY_ACTIONS, Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services as inventory
from tests.conftest import make_user

pytestmark = pytest.mark.usefixtures("transactional_db")

EVENTS = "/api/v1/audit/events/"
SECURITY = ["user.logged_in", "user.login_failed", "user.logged_out", "signature.failed"]
MODEL_CARD = "# Retail Scorecard\n\nIntended use: retail credit decisions.\n"


@pytest.fixture
def story(cast, models, client):
    admin = Actor.of(cast.admin)
    with transaction.atomic():
        staging = inventory.environment_save(actor=admin, name="staging", order=20, protected=True)
        approvals.policy_save(
            actor=admin, name="Staging", environment=staging, risk_tiers=["high"],
            steps=[{"name": "Peer review", "approver_kind": "role", "role": "approver", "quorum": 1,
                    "requires_signature": True, "due_hours": 24}],
        )  # fmt: skip
        for version in models.scorecard.versions.all():
            inventory.model_version_update(actor=Actor.of(cast.dana), version=version, model_card=MODEL_CARD)
        request = approvals.request_deployment(
            actor=Actor.of(cast.dana), version=models.scorecard.versions.get(version="1.0.0"), environment=staging,
            justification="Quarterly refresh.",
        )  # fmt: skip
    accounts.login_succeeded(user=cast.dana)
    accounts.login_failed(username="ben")
    accounts.logged_out(user=cast.dana)
    client.force_login(cast.rita)
    step = request.steps.get()
    refused = client.post(f"/approvals/requests/{request.pk}/decide/", {"outcome": "approve", "password": "wrong",
                                                                      "step": step.pk})  # fmt: skip
    assert refused.status_code == 403
    client.logout()
    assert sorted(AuditEvent.objects.filter(action__in=SECURITY).values_list("action", flat=True)) == sorted(SECURITY)
    return request


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def security_actions_read_by(user) -> list[str]:
    """The security events `user` finds in the audit API, asking for each security action by name."""
    client = session_client(user)
    found = []
    for action in sorted(SECURITY_ACTIONS):
        response = client.get(EVENTS, {"action": action})
        assert response.status_code == 200, response.content
        found += [event["action"] for event in response.json()["results"]]
    return sorted(found)


def make_portal_auditor(user) -> None:
    User.objects.filter(pk=user.pk).update(is_portal_auditor=True)  # as a superuser does in /admin/
    user.refresh_from_db()


# --- the audit trail -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["audrey", "alice", "ben"])
def test_team_auditors_and_team_admins_read_no_security_event(client, cast, story, name):
    user = getattr(cast, name)

    assert security_actions_read_by(user) == []
    client.force_login(user)
    failed = AuditEvent.objects.get(action=Action.SIGNATURE_FAILED)
    assert client.get(f"/audit/{failed.sequence}/").status_code == 404
    assert "<code>signature.failed</code>" not in client.get("/audit/").content.decode()


def test_team_auditors_still_read_their_teams_events_and_the_portal_wide_ones(cast, story):
    client = session_client(cast.audrey)
    actions = {event["action"] for event in client.get(EVENTS, {"page_size": 200}).json()["results"]}

    assert {"request.submitted", "model.registered", "environment.created", "policy.created"} <= actions
    assert not actions & SECURITY_ACTIONS


@pytest.mark.parametrize("name", ["admin", "audrey"])
def test_superusers_and_portal_auditors_read_every_security_event(client, cast, story, name):
    user = getattr(cast, name)
    if name == "audrey":
        make_portal_auditor(user)

    assert security_actions_read_by(user) == sorted(SECURITY)
    client.force_login(user)
    failed = AuditEvent.objects.get(action=Action.SIGNATURE_FAILED)
    assert client.get(f"/audit/{failed.sequence}/").status_code == 200


def test_a_portal_auditor_without_a_team_role_reads_security_events_but_no_teams_trail(cast, story):
    pat = make_user("pat")
    make_portal_auditor(pat)
    client = session_client(pat)

    actions = {event["action"] for event in client.get(EVENTS, {"page_size": 200}).json()["results"]}

    assert set(SECURITY) <= actions
    assert "model.registered" not in actions and "request.submitted" not in actions
    assert "environment.created" in actions  # portal-wide, as for every auditor


def test_a_service_account_is_never_a_portal_auditor(cast, story):
    with transaction.atomic():
        account = service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name="ci")
        _, plaintext = token_create(actor=Actor.of(cast.alice), account=account, name="ci", scopes=["read"])
    User.objects.filter(pk=account.pk).update(is_portal_auditor=True)  # set behind the admin's back
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    response = client.get(EVENTS, {"action": "signature."})

    assert response.status_code == 200 and response.json()["results"] == []


# --- histories on the object pages -----------------------------------------------------------------------------


def pages_of(story):
    return [
        f"/approvals/requests/{story.pk}/",
        "/models/retail-scorecard/",
        "/models/retail-scorecard/versions/1.0.0/",
        "/",
    ]


@pytest.mark.parametrize("name", ["vera", "dana", "rita", "audrey", "alice"])
def test_no_history_shows_a_failed_signature_to_anyone_but_portal_auditors(client, cast, story, name):
    client.force_login(getattr(cast, name))

    for url in pages_of(story):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<code>signature.failed</code>" not in page.content.decode(), url
    assert "<code>request.submitted</code>" in client.get(pages_of(story)[0]).content.decode()


@pytest.mark.parametrize("name", ["admin", "audrey"])
def test_the_request_history_shows_the_failed_signature_to_portal_auditors(client, cast, story, name):
    user = getattr(cast, name)
    if name == "audrey":
        make_portal_auditor(user)
    client.force_login(user)

    for url in pages_of(story)[:3]:
        assert "<code>signature.failed</code>" in client.get(url).content.decode(), url
