"""The audit pages in Chromium as audrey reads them: events as sentences, the raw record behind a toggle, times in
local time with UTC on hover (her exports, verified offline, are in test_auditor_path.py).
And two things a new user saw: the favicon loads, and the sync-run table's headers take at most two lines.
"""

import re

import pytest
from django.db import transaction

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import Target, record

pytestmark = pytest.mark.browser

LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")


@pytest.fixture
def trail(cast, models):
    with transaction.atomic():
        return record(
            action=Action.MODEL_LIFECYCLE_CHANGED,
            actor=Actor.of(cast.dana),
            target=Target("inventory.registeredmodel", models.scorecard.pk, "Retail Scorecard",
                          scope={"team": cast.team_a.pk, "model": models.scorecard.pk}),
            changes={"lifecycle_status": ["development", "validation"], "reason": [None, "Frozen for validation."]},
        )  # fmt: skip


def test_an_event_reads_as_a_sentence_with_its_raw_record_behind_a_toggle(login, trail):
    from playwright.sync_api import expect

    page = login("audrey")
    page.goto("/audit/")
    row = page.locator("tr", has=page.locator(f"a[href='/audit/{trail.sequence}/']"))
    expect(row).to_contain_text("Dana Tester moved Retail Scorecard from development to validation")
    time = row.locator("time")
    expect(time).to_have_attribute("data-localised", "1")
    assert LOCAL_TIME.match(time.inner_text()), time.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", time.get_attribute("title"))

    row.get_by_role("link", name=str(trail.sequence)).click()
    expect(page.locator("#event-sentence")).to_have_text(
        "Dana Tester moved Retail Scorecard from development to validation"
    )
    expect(page.locator(".changes-table")).to_contain_text("Lifecycle status")
    raw = page.locator("#event-raw")
    expect(raw.get_by_text(trail.hash)).to_be_hidden()
    raw.get_by_text("Raw", exact=True).click()
    expect(raw.get_by_text(trail.hash)).to_be_visible()


def test_the_favicon_loads(login, cast):
    page = login("audrey")
    response = page.request.get("/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/")
    icon = page.locator("link[rel=icon]").first.get_attribute("href")
    assert page.request.get(icon).status == 200


def test_the_sync_run_table_headers_take_at_most_two_lines(login, cast):
    from django.utils import timezone

    from apps.gitsync import services as gitsync
    from apps.gitsync.models import SyncRun, Trigger

    repository, _ = gitsync.repository_create(
        actor=Actor.of(cast.alice), team=cast.team_a, name="credit-models", url="https://git.example.com/acme/m.git",
        branch="main", default_risk_tier="high", enabled=True,
    )  # fmt: skip
    SyncRun.objects.create(repository=repository, trigger=Trigger.SCHEDULE, started_at=timezone.now(),
                           finished_at=timezone.now(), head_before="a" * 40, head_after="b" * 40, requested_by="dana",
                           created=2, updated=1, unchanged=3)  # fmt: skip
    page = login("alice")
    page.goto(f"/repositories/{repository.pk}/")
    line = page.locator("#run-table tbody td").first.evaluate("td => parseFloat(getComputedStyle(td).lineHeight)")
    heights = page.locator("#run-table thead th").evaluate_all("ths => ths.map(th => th.clientHeight)")
    padding = page.locator("#run-table thead th").first.evaluate(
        "th => parseFloat(getComputedStyle(th).paddingTop) + parseFloat(getComputedStyle(th).paddingBottom)"
    )
    assert max(heights) - padding <= 2 * line + 2, (heights, line)
