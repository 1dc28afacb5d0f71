"""The audit trail's model and version pickers in Chromium: type part of a model's name, choose it from the
suggestions (keyboard for the model, mouse for the version), filter, and see only that version's events."""

import pytest

from apps.audit.models import AuditEvent
from apps.inventory.models import ModelVersion

pytestmark = pytest.mark.browser


def test_an_auditor_picks_a_model_and_a_version_and_sees_only_their_events(login, cast, models):
    from playwright.sync_api import expect

    version = ModelVersion.objects.get(model=models.scorecard, version="1.0.0")
    expected = set(AuditEvent.objects.filter(version_id=version.pk).values_list("sequence", flat=True))
    others = set(AuditEvent.objects.exclude(version_id=version.pk).values_list("sequence", flat=True))
    assert expected and others

    page = login("audrey")
    page.goto("/audit/")
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_have_attribute("aria-autocomplete", "list")
    model.press_sequentially("scor")
    suggestions = page.get_by_role("listbox", name="Model suggestions")
    expect(suggestions.get_by_role("option")).to_have_count(1)  # the fraud team's model is not offered
    expect(suggestions.get_by_role("option").first).to_contain_text("Retail Scorecard")
    expect(model).to_have_attribute("aria-expanded", "true")
    model.press("ArrowDown")
    expect(suggestions.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    model.press("Enter")
    expect(model).to_have_value("Retail Scorecard")
    expect(model).to_have_attribute("aria-expanded", "false")
    page.wait_for_timeout(400)  # past the typing delay: a question asked before the choice must not reopen the list
    expect(model).to_have_attribute("aria-expanded", "false")
    expect(suggestions).to_be_hidden()

    version_box = page.get_by_role("combobox", name="Version")
    version_box.click()
    version_options = page.get_by_role("listbox", name="Version suggestions").get_by_role("option")
    expect(version_options).to_have_count(2)
    version_options.filter(has_text="1.0.0").click()
    expect(version_box).to_have_value("1.0.0")

    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*")
    assert "model=Retail+Scorecard" in page.url and "version=1.0.0" in page.url
    shown = {
        int(href.rsplit("/", 2)[-2])
        for href in page.locator("a[href^='/audit/'][href$='/']").evaluate_all(
            "links => links.map(link => link.getAttribute('href')).filter(href => /^\\/audit\\/\\d+\\/$/.test(href))"
        )
    }
    assert shown == expected
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Retail Scorecard")
