"""From the approver's home page to what runs: approve in the browser, and the approved version deploys itself."""

import pytest
from django.db import transaction
from django.urls import reverse

from apps.accounts.models import Role
from apps.approvals import services as approvals
from apps.approvals.models import ApproverKind, DeploymentRequest
from apps.audit.actors import Actor
from apps.deployments import services as deployments
from apps.deployments.models import DriftState, Rollout
from apps.deployments.observing import observe_target
from apps.inventory import services as inventory
from tests.conftest import DIGEST, PASSWORD
from tests.deployments.conftest import manifest
from tests.gitsync.gitwork import Work

pytestmark = pytest.mark.browser

CARD = "# Retail Scorecard\n\nScores retail credit applications.\n"


@pytest.fixture
def pending(cast, tmp_path, monkeypatch):
    """1.0.0 runs in production through a GitOps target; dana's request for 2.0.0 waits for one signed review."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    admin = Actor.of(cast.admin)
    production = inventory.environment_save(actor=admin, name="production", order=30, protected=True)
    approvals.policy_save(actor=admin, name="Production", environment=production, risk_tiers=["high"], steps=[
        {"name": "Model risk review", "approver_kind": ApproverKind.ROLE, "role": Role.APPROVER, "quorum": 1,
         "requires_signature": True, "due_hours": 72},
    ])  # fmt: skip
    model = inventory.registered_model_register(actor=admin, team=cast.team_a, name="Retail Scorecard",
                                                risk_tier="high", owners=[cast.dana])  # fmt: skip
    for version in ("1.0.0", "2.0.0"):
        inventory.model_version_create(actor=admin, model=model, version=version, artifact_digest=DIGEST,
                                       model_card=CARD)  # fmt: skip
    repo = Work(tmp_path / "deploy")
    repo.git("config", "receive.denyCurrentBranch", "updateInstead")
    repo.commit("Deploy 1.0.0", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST)})
    with transaction.atomic():
        target = deployments.target_save(actor=admin, name="prod-gitops", environment=production, team=cast.team_a,
                                         kind="gitops", config={"url": repo.url, "paths": ["prod/*.yaml"]})  # fmt: skip
    observe_target(target.pk)
    with transaction.atomic():
        request = approvals.request_deployment(actor=Actor.of(cast.dana), version=model.versions.get(version="2.0.0"),
                                               environment=production, justification="Recalibrated.")  # fmt: skip
    return request, repo, model, production


def test_an_approval_on_the_home_page_rolls_out_and_deployments_turn_in_sync(cast, pending, login):
    from playwright.sync_api import expect

    request, repo, model, production = pending
    assert DriftState.objects.get(model=model, environment=production).status == "unapproved"  # 1.0.0 never was

    rita = login("rita")
    rita.goto("/")
    waiting = rita.locator("section#waiting")
    expect(waiting).to_contain_text("Retail Scorecard")
    expect(waiting).to_contain_text("Model risk review")
    waiting.get_by_role("link", name=f"#{request.pk}").first.click()
    rita.wait_for_url(f"**{reverse('approvals:request-detail', args=[request.pk])}")
    rita.locator("#decide #id_password").fill(PASSWORD)
    rita.locator("#decide").get_by_role("button", name="Approve").click()
    expect(rita.locator("#request-state")).to_contain_text("Approved")

    rita.reload()  # the rollout ran after the decision committed
    rollout = rita.locator("#rollouts")
    expect(rollout).to_contain_text("prod-gitops")
    expect(rollout.locator(".rollout-status")).to_have_attribute("data-status", "succeeded")
    record = Rollout.objects.get(request=request)
    expect(rollout).to_contain_text(record.reference[:12])
    assert f"GovPortal-Request: {request.pk}" in repo.git("log", "-1", "--format=%B")
    assert DeploymentRequest.objects.get(pk=request.pk).state == "approved"

    rita.goto(reverse("deployments:matrix"))
    row = rita.locator("tr", has_text="Retail Scorecard")
    expect(row).to_contain_text("In sync")
    expect(row).to_contain_text("2.0.0")
    rita.screenshot(path="/tmp/rollout-in-sync.png", full_page=True)  # noqa: S108 - for a person to look at
