"""A requester submits and withdraws only while they may still request deployments of the model.

dana drafts and submits as a contributor of Credit Risk; once alice takes that role away (dana stays a viewer,
so she still sees her requests), her old draft can no longer be submitted nor her pending request withdrawn,
through the services or the page, and the page stops offering either. Nothing is written when refused.
"""

import re

import pytest
from django.core.exceptions import PermissionDenied

from apps.accounts import services as accounts
from apps.accounts.models import Membership
from apps.approvals import services
from apps.approvals.models import RequestState
from apps.audit.actors import Actor

from .conftest import reload, request_production

REFUSED = re.escape("You may not submit deployment requests of Retail Scorecard")


def demote(cast, user, role="contributor"):
    """alice takes `role` from `user` and leaves them a viewer of Credit Risk."""
    admin = Actor.of(cast.alice)
    accounts.membership_revoke(actor=admin, membership=Membership.objects.get(user=user, team=cast.team_a, role=role))
    accounts.membership_grant(actor=admin, team=cast.team_a, user=user, role="viewer")


@pytest.fixture
def draft(cast, envs, v1):
    return services.deployment_request_create(
        actor=Actor.of(cast.dana), version=v1, environment=envs.production, justification="Drafted while allowed."
    )


def test_a_requester_whose_role_was_revoked_cannot_submit_their_old_draft(cast, draft, trail):
    demote(cast, cast.dana)
    before = trail.actions()

    with pytest.raises(PermissionDenied, match=REFUSED):
        services.deployment_request_submit(actor=Actor.of(cast.dana), request=draft)

    assert reload(draft).state == RequestState.DRAFT
    assert reload(draft).steps.count() == 0
    assert trail.actions() == before == ["role.revoked", "role.granted"]


def test_a_requester_whose_role_was_revoked_cannot_withdraw_their_pending_request(cast, envs, v1, trail):
    pending = request_production(cast, v1, envs)
    demote(cast, cast.dana)
    before = trail.actions()

    with pytest.raises(PermissionDenied, match="You may not withdraw deployment requests of Retail Scorecard"):
        services.deployment_request_cancel(actor=Actor.of(cast.dana), request=pending, reason="Changed my mind.")

    assert reload(pending).state == RequestState.PENDING
    assert trail.actions() == before  # the revocation and the grant, nothing after them


def test_a_requester_who_was_made_admin_instead_still_submits(cast, draft, trail):
    accounts.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=cast.dana, role="admin")
    demote(cast, cast.dana)

    services.deployment_request_submit(actor=Actor.of(cast.dana), request=draft)

    assert reload(draft).state == RequestState.PENDING
    assert "request.submitted" in trail.actions()


def test_the_page_stops_offering_submit_and_withdraw_once_the_role_is_gone(client, cast, draft, trail):
    client.force_login(cast.dana)
    page = f"/approvals/requests/{draft.pk}/"
    assert "Submit for approval" in client.get(page).content.decode()
    demote(cast, cast.dana)
    before = trail.actions()

    shown = client.get(page).content.decode()
    submitted = client.post(f"{page}submit/")
    withdrawn = client.post(f"{page}cancel/", {"reason": "Changed my mind."})

    assert "Submit for approval" not in shown and "Withdraw this request" not in shown
    assert (submitted.status_code, withdrawn.status_code) == (403, 403)
    assert reload(draft).state == RequestState.DRAFT
    assert trail.actions() == before
