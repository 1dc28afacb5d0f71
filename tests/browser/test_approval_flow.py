"""The approval path in a real browser: request, two risk reviewers, the business owner, the signed record.

Separation of duties is checked while the request is still pending: the requester sees no decision
form, and a forged decision POST from her own session (with her correct password) is refused.
"""

import re

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.approvals import services as approvals
from apps.approvals.models import ApproverKind, DeploymentRequest, RequestState
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services as inventory
from tests.conftest import DIGEST, PASSWORD

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/approval-final.png"  # noqa: S108 - for the lead to look at, not asserted
SELF_APPROVAL = "You requested this deployment, so you cannot approve it"
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")  # the portal's one time format, in the reader's zone
MODEL_CARD = """# Retail Scorecard 2.0.0

Scores retail credit applications. Trained on 2019-2024 applications; validated by Model Risk.
"""


@pytest.fixture
def governed_version(cast):
    """Environments, the production policy for high and critical risk, and a high-risk version ready to request."""
    admin = Actor.of(cast.admin)
    environments = {
        name: inventory.environment_save(actor=admin, name=name, order=order, protected=name != "development")
        for order, name in enumerate(("development", "staging", "production"), start=1)
    }
    approvals.policy_save(
        actor=admin,
        name="Production: high and critical risk",
        environment=environments["production"],
        risk_tiers=["high", "critical"],
        active=True,
        require_model_card=True,
        require_digest=True,
        expiry_days=14,
        steps=[
            {"name": "Model risk review", "approver_kind": ApproverKind.ROLE, "role": Role.APPROVER,
             "quorum": 2, "requires_signature": True, "due_hours": 72},
            {"name": "Business owner sign-off", "approver_kind": ApproverKind.USERS, "users": [cast.bo],
             "quorum": 1, "requires_signature": True, "due_hours": 72},
        ],
    )  # fmt: skip
    model = inventory.registered_model_register(
        actor=admin, team=cast.team_a, name="Retail Scorecard", risk_tier="high", owners=[cast.dana],
        validator=cast.rita, intended_use="Retail credit decisions.",
    )  # fmt: skip
    version = inventory.model_version_create(
        actor=admin, model=model, version="2.0.0", artifact_digest=DIGEST, model_card=MODEL_CARD, metrics={"auc": 0.83}
    )
    return version, environments["production"]


def approve_as(login, expect, username: str, printed_name: str, step_name: str, request_pk: int):
    """`username` finds the request waiting for them, signs with their password, and sees their signature in place."""
    page = login(username)
    page.goto(reverse("approvals:inbox"))
    expect(page.locator("#approvals-badge")).to_have_text("1")
    waiting = page.locator("#waiting-table tbody tr", has_text=f"#{request_pk}")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text(step_name)
    waiting.get_by_role("link", name=f"#{request_pk}").click()
    page.wait_for_url(f"**{reverse('approvals:request-detail', args=[request_pk])}")

    decide = page.locator("#decide")
    expect(decide).to_contain_text(step_name)
    page.evaluate("window.notReloaded = true")  # gone if the browser navigated instead of swapping in place
    decide.locator("#id_password").fill(PASSWORD)
    decide.get_by_role("button", name="Approve").click()

    signature = page.locator(f".signature[data-username='{username}']")
    expect(signature).to_contain_text(f"Approved as {step_name}")
    expect(signature).to_contain_text(f"{printed_name} ({username})")
    expect(signature).to_contain_text(LOCAL_TIME)
    expect(signature).to_contain_text("Signed electronically")
    expect(page.locator("#request-body")).to_contain_text(f"Recorded: Approved as {step_name}.")
    expect(page.locator("#decide")).to_have_count(0)  # one person, one decision
    expect(page.locator("#approvals-badge")).to_have_count(0)  # the navigation's count follows the decision
    assert page.evaluate("window.notReloaded") is True, "the decision reloaded the page instead of updating it"
    page.context.close()


def test_a_high_risk_version_is_requested_approved_in_two_steps_and_signed(cast, governed_version, login):
    from playwright.sync_api import expect

    version, production = governed_version

    # 1. dana requests the deployment from the version page.
    dana = login("dana")
    dana.goto(reverse("inventory:version-detail", args=[version.model.slug, version.version]))
    dana.locator("#request-deployment").click()
    dana.wait_for_url(f"**{reverse('approvals:request-create', args=[version.pk])}")
    dana.select_option("#id_environment", value=str(production.pk))
    expect(dana.locator("#checks-preview")).to_contain_text("Model risk review")  # htmx preview for production
    dana.fill("#id_justification", "Recalibrated on 2024 applications; AUC up from 0.81 to 0.83.")
    dana.get_by_role("button", name="Submit for approval").click()
    dana.wait_for_url(re.compile(r"/approvals/requests/\d+/$"))
    expect(dana.locator("#request-state")).to_have_text("Pending approval")
    request = DeploymentRequest.objects.get(version=version, environment=production)
    assert request.requester == cast.dana
    assert request.state == RequestState.PENDING

    # 5. (while still pending) dana cannot approve her own request: no form, and a forged POST is refused.
    expect(dana.locator("#requester-note")).to_contain_text(SELF_APPROVAL)
    expect(dana.locator("#decide")).to_have_count(0)
    expect(dana.get_by_role("button", name="Approve")).to_have_count(0)
    csrf = next(c["value"] for c in dana.context.cookies() if c["name"] == "csrftoken")
    decide_url = reverse("approvals:request-decide", args=[request.pk])
    step_pk = str(request.steps.get(order=1).pk)
    for password in (PASSWORD, ""):  # her own valid signature does not help; without one she is refused the same way
        forged = dana.request.post(
            decide_url,
            form={"csrfmiddlewaretoken": csrf, "outcome": "approve", "password": password, "step": step_pk},
            headers={"X-CSRFToken": csrf},
        )
        assert forged.status == 403, forged.text()[:500]
        assert SELF_APPROVAL in forged.text()
    assert not request.decisions.exists()
    assert not AuditEvent.objects.filter(action="signature.failed", actor_id=cast.dana.pk).exists()

    # 2. rita and sam sign the model risk review, each in their own browser.
    approve_as(login, expect, "rita", "Rita Tester", "Model risk review", request.pk)
    approve_as(login, expect, "sam", "Sam Tester", "Model risk review", request.pk)

    # 3. bo signs the business owner sign-off, the last step.
    approve_as(login, expect, "bo", "Bo Tester", "Business owner sign-off", request.pk)

    # 4. dana sees the approved request with its three signature manifestations.
    dana.reload()
    expect(dana.locator("#request-state")).to_have_text("Approved")
    signatures = dana.locator(".signature")
    expect(signatures).to_have_count(3)
    expected = [
        ("rita", "Rita Tester", "Approved as Model risk review"),
        ("sam", "Sam Tester", "Approved as Model risk review"),
        ("bo", "Bo Tester", "Approved as Business owner sign-off"),
    ]
    for username, printed_name, meaning in expected:
        signature = dana.locator(f".signature[data-username='{username}']")
        expect(signature).to_contain_text(meaning)
        expect(signature).to_contain_text(f"{printed_name} ({username})")
        expect(signature).to_contain_text(LOCAL_TIME)
    expect(dana.locator("#requester-note")).to_have_count(0)
    dana.screenshot(path=SCREENSHOT, full_page=True)

    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert AuditEvent.objects.filter(
        action="request.approved", target_type="approvals.deploymentrequest", target_id=str(request.pk)
    ).exists()
