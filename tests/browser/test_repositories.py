"""Adding a Git repository in a real browser: the webhook secret is shown once, and Sync now records a run."""

import re

import pytest

from apps.gitsync.models import GitRepository, SyncRun
from tests.gitsync.gitwork import Work

pytestmark = pytest.mark.browser

GOVPORTAL_YAML = """\
models:
  - name: Churn Predictor
    team: credit-risk
    risk_tier: medium
    intended_use: Who leaves next month.
    versions:
      - version: 1.0.0
        metrics: {auc: 0.84}
"""


@pytest.fixture
def remote(tmp_path, monkeypatch):
    """A real repository holding a govportal.yaml; no user or system Git config leaks in."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    work = Work(tmp_path / "models-repo")
    work.commit("Declare the churn model", {"govportal.yaml": GOVPORTAL_YAML})
    return work


def test_a_local_repository_is_added_by_a_portal_admin_shown_once_and_synced_by_the_team(cast, remote, login):
    from playwright.sync_api import expect

    alice = login("alice")  # a team admin may not point the portal at the server's own disk …
    alice.goto("/repositories/")
    expect(alice.get_by_text("No repositories yet.")).to_be_visible()
    alice.locator("#add-repository").click()
    alice.wait_for_url("**/repositories/new/")
    alice.fill("#id_name", "churn-models")
    alice.fill("#id_url", remote.url)
    alice.get_by_role("button", name="Add repository").click()
    expect(alice.locator("#id_url + .invalid-feedback, .invalid-feedback").first).to_contain_text(
        "Only portal administrators may register a local repository."
    )
    assert not GitRepository.objects.exists()

    admin = login("admin")  # … a portal admin may, where the operator turned local repositories on
    admin.goto("/repositories/new/")
    admin.fill("#id_name", "churn-models")
    admin.select_option("#id_team", label="Credit Risk")
    admin.fill("#id_url", remote.url)
    admin.get_by_role("button", name="Add repository").click()

    admin.wait_for_url(re.compile(r"/repositories/\d+/$"))
    repository = GitRepository.objects.get(name="churn-models")
    secret_alert = admin.locator("#webhook-secret")
    expect(secret_alert).to_contain_text("copy it now; it will not be shown again")
    expect(secret_alert).to_contain_text("/hooks/github/")
    expect(secret_alert).to_contain_text("application/json")
    secret = admin.locator("#webhook-secret-value").input_value()
    assert len(secret) >= 32
    assert repository.has_webhook_secret

    admin.reload()
    expect(admin.locator("#webhook-secret")).to_have_count(0)
    assert secret not in admin.content()
    expect(admin.locator("#run-table")).to_contain_text("Not synced yet.")

    alice.goto(f"/repositories/{repository.pk}/")  # the team syncs it from then on
    alice.locator("#sync-now").click()
    alice.wait_for_load_state()
    expect(alice.get_by_role("alert").filter(has_text="Synced: the run is at the top of the list.")).to_be_visible()
    run = SyncRun.objects.get(repository=repository)
    row = alice.locator(f"#run-table tr[data-run='{run.pk}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("alice")
    expect(row.locator(".sync-status")).to_be_visible()
    expect(row.locator(".sync-status")).to_have_attribute("data-status", run.status)
    expect(alice.locator("#repository-status .sync-status")).to_have_attribute("data-status", run.status)
    alice.screenshot(path="/tmp/repository-synced.png", full_page=True)  # noqa: S108 - for a person to look at
