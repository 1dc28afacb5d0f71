"""The Content-Security-Policy in a real browser: the main pages, the admin and the API docs load without a single
violation, and what they do with JavaScript still works (htmx previews and polling, Bootstrap, the admin's widgets,
Swagger UI).

Violations are caught twice: Chromium's console errors ("… violates the following Content Security Policy
directive …") and the page's own `securitypolicyviolation` events, recorded by a script Playwright injects.
"""

import uuid

import pytest
from django.db import transaction
from django.urls import reverse

from apps.approvals import services as approvals
from apps.audit.actors import Actor
from apps.compliance.models import AuditExport, ExportStatus
from apps.inventory import services as inventory
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def portal(cast, models):
    """Environments, a production policy, a pending request rita may decide, and an export still running."""
    admin = Actor.of(cast.admin)
    with transaction.atomic():
        development = inventory.environment_save(actor=admin, name="development", order=10, protected=False)
        production = inventory.environment_save(actor=admin, name="production", order=30, protected=True)
        approvals.policy_save(
            actor=admin, name="Production high risk", environment=production, risk_tiers=["high"],
            steps=[{"name": "Model risk review", "approver_kind": "role", "role": "approver", "quorum": 1,
                    "requires_signature": False, "due_hours": 72}],
        )  # fmt: skip
        version = models.scorecard.versions.get(version="1.1.0")
        inventory.model_version_update(actor=Actor.of(cast.dana), version=version, model_card="# Card\n\nFine.")
        pending = approvals.request_deployment(
            actor=Actor.of(cast.dana), version=version, environment=production, justification="Quarterly."
        )
    # A file export a worker is writing (export_start would run it at once here: tasks run in-process in tests).
    export = AuditExport.objects.create(id=uuid.uuid4(), requested_by=cast.admin, format="csv", total=10,
                                        row_count=4, status=ExportStatus.RUNNING)  # fmt: skip
    return {"version": version, "development": development, "production": production, "pending": pending,
            "export": AuditExport.objects.get(pk=export.pk)}  # fmt: skip


@pytest.fixture
def watched(new_context):
    """watched(username) -> (page, problems): signs in through the login page, collecting from the first page on
    every CSP violation (console and securitypolicyviolation events) and every script error."""

    def open_as(username):
        context = new_context()
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        problems = []
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}")
                if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        visit(page, problems, "/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page, problems

    return open_as


def visit(page, problems, path, ready=None):
    """Open `path`, wait for it (and `ready`, a selector that JavaScript makes appear), collect its violations."""
    from playwright.sync_api import expect

    response = page.goto(path)
    assert response.status < 500, path
    assert "'unsafe-inline'" not in (response.headers.get("content-security-policy") or "'unsafe-inline'"), path
    page.wait_for_load_state("networkidle")
    if ready:
        expect(page.locator(ready).first).to_be_attached()
    problems.extend(f"{path}: {violation}" for violation in page.evaluate("window.__violations || []"))


def test_the_harness_sees_a_violation(watched, portal):
    """Guards the other tests: an inline style attribute added to a page is reported as a violation."""
    page, problems = watched("admin")
    visit(page, problems, "/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    page.wait_for_function("window.__violations.length > 0")
    assert "style-src-attr" in page.evaluate("window.__violations")[0]


def test_the_main_pages_load_without_a_csp_violation(cast, watched, portal):
    page, problems = watched("admin")
    version, pending = portal["version"], portal["pending"]
    model_url = reverse("inventory:model-detail", args=[version.model.slug])
    for path, ready in [
        ("/", ".home-section, #all-clear, svg"),
        ("/models/", None),
        (model_url, None),
        (reverse("inventory:version-detail", args=[version.model.slug, version.version]), None),
        ("/approvals/", None),
        ("/approvals/requests/", None),
        (reverse("approvals:request-detail", args=[pending.pk]), "#checks td.check-mark"),
        ("/approvals/policies/", None),
        ("/audit/", "time[data-localised]"),  # portal.js ran: times are in local time
        ("/audit/exports/", None),
        ("/teams/", None),
        (reverse("accounts:team-detail", args=[cast.team_a.slug]), None),
        ("/repositories/", None),
        ("/no/such/page/", "#error-reason"),
        ("/models/?q=%00", "#error-reason"),
    ]:
        visit(page, problems, path, ready)
    assert problems == []


def test_the_request_forms_environment_chooser_updates_the_checks(cast, watched, portal):
    from playwright.sync_api import expect

    page, problems = watched("dana")
    visit(page, problems, reverse("approvals:request-create", args=[portal["version"].pk]))
    preview = page.locator("#checks-preview")
    page.select_option("#id_environment", value=str(portal["production"].pk))
    expect(preview).to_contain_text("Governed by Production high risk")
    expect(preview.locator("td.check-mark").first).to_be_visible()
    page.select_option("#id_environment", value=str(portal["development"].pk))
    expect(preview).to_contain_text("No approval policy governs development")
    problems.extend(page.evaluate("window.__violations"))
    assert problems == []


def test_a_running_export_shows_its_progress_bar_and_polls(watched, portal):
    from playwright.sync_api import expect

    page, problems = watched("admin")
    export = portal["export"]
    visit(page, problems, reverse("audit:export-detail", args=[export.pk]), ".progress-bar[data-progress]")
    bar = page.locator(".progress-bar")
    expect(bar).to_have_text(f"{export.progress_percent}%")
    width = bar.evaluate("el => el.getBoundingClientRect().width / el.parentElement.getBoundingClientRect().width")
    assert abs(width - export.progress_percent / 100) < 0.02, width  # set by portal.js, not a style attribute
    with page.expect_response(lambda response: f"/audit/exports/{export.pk}/" in response.url, timeout=5_000):
        pass  # htmx polls every 2 s
    problems.extend(page.evaluate("window.__violations"))
    assert problems == []


def test_bootstrap_still_collapses_the_navigation_and_dismisses_messages(cast, watched, portal):
    from playwright.sync_api import expect

    page, problems = watched("dana")
    page.set_viewport_size({"width": 700, "height": 900})
    visit(page, problems, "/models/")
    expect(page.locator("#nav")).to_be_hidden()
    page.locator(".navbar-toggler").click()
    expect(page.locator("#nav")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 1000})
    visit(page, problems, reverse("inventory:model-detail", args=[portal["version"].model.slug]))
    page.select_option("#id_status", value="validation")
    page.fill("#id_reason", "Ready for independent validation.")
    page.get_by_role("button", name="Change status").click()
    alert = page.locator(".alert-dismissible")
    expect(alert).to_be_visible()
    alert.locator(".btn-close").click()
    expect(alert).to_have_count(0)
    problems.extend(page.evaluate("window.__violations"))
    assert problems == []


def test_the_admin_works_under_the_policy(cast, watched, portal):
    from playwright.sync_api import expect

    page, problems = watched("admin")
    visit(page, problems, "/admin/")
    visit(page, problems, "/admin/inventory/registeredmodel/")
    visit(page, problems, "/admin/audit/auditevent/", "#changelist")
    # The user form's widgets are built by the admin's JavaScript: the two-pane permission chooser, the date shortcuts.
    visit(page, problems, f"/admin/accounts/user/{cast.dana.pk}/change/", ".selector .selector-available")
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()
    visit(page, problems, "/admin/inventory/environment/add/")
    assert problems == []


def test_the_api_docs_render_under_the_policy(watched, portal):
    from playwright.sync_api import expect

    page, problems = watched("admin")
    visit(page, problems, "/api/docs/", ".swagger-ui .opblock")
    expect(page.locator(".swagger-ui .title").first).to_contain_text("GovPortal API")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    problems.extend(page.evaluate("window.__violations"))
    assert problems == []
