"""Deliveries that fail authentication cannot grow the audit trail: one event per client address and minute,
then 429 past the limit; signed deliveries are never held back by someone else's rejections."""

import pytest

from apps.audit.actions import Action
from apps.core import counters
from tests.conftest import Trail

from .conftest import push_payload

MINUTE = 1_800_000_000 // 60 * 60  # 2027-01-15T08:00:00Z, the start of a minute
MISMATCH = "The signature does not match the repository's webhook secret."


@pytest.fixture(autouse=True)
def clock(monkeypatch, settings):
    """A clock the test moves by hand, 10 seconds into a minute; 30 rejections a minute allowed."""
    settings.WEBHOOK_REJECTION_LIMIT = 30
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]  # the test client's address: a proxy passing on the caller's
    now = {"t": MINUTE + 10.0}
    monkeypatch.setattr(counters, "clock", lambda: now["t"])
    return now


def sent_from(address: str) -> dict:
    """Headers of a delivery from `address`, as the proxy in front of the portal passes it on."""
    return {"X-Forwarded-For": address}


def test_two_hundred_unsigned_deliveries_write_one_event_with_a_count_then_429(repos, github, enqueued):
    trail = Trail()

    responses = [github(push_payload(), **sent_from("203.0.113.9")) for _ in range(200)]

    assert {r.status_code for r in responses[:30]} == {401}
    assert {r.status_code for r in responses[30:]} == {429}
    refused = responses[-1]
    assert refused["Retry-After"] == "50"  # the rest of the minute
    assert refused.json()["code"] == "throttled"
    assert "Too many rejected deliveries" in refused.json()["detail"]
    [event] = trail.events()
    assert event.action == Action.WEBHOOK_REJECTED
    assert event.context["client_ip"] == "203.0.113.9"
    assert event.changes["rejected_this_minute"] == [None, 1]
    assert event.changes["minute"] == [None, "2027-01-15T08:00Z"]
    assert "first" in event.changes["recorded"][1]
    assert enqueued == []


def test_badly_signed_and_unknown_repository_deliveries_share_the_count_and_the_message(repos, github):
    trail = Trail()

    wrong = [github(push_payload(), signature="sha256=" + "0" * 64, **sent_from("203.0.113.9")) for _ in range(15)]
    unknown = [
        github(push_payload(full_name="acme/unknown"), secret=repos.churn_secret, **sent_from("203.0.113.9"))
        for _ in range(15)
    ]
    over = github(push_payload(full_name="acme/unknown"), secret=repos.churn_secret, **sent_from("203.0.113.9"))

    assert {(r.status_code, r.json()["detail"]) for r in wrong + unknown} == {(401, MISMATCH)}
    assert over.status_code == 429
    assert trail.actions() == [Action.WEBHOOK_REJECTED]


def test_each_minute_records_again_with_the_count_so_far(repos, github, clock):
    trail = Trail()
    for _ in range(40):
        github(push_payload(), **sent_from("203.0.113.9"))

    clock["t"] = MINUTE + 65.0
    response = github(push_payload(), **sent_from("203.0.113.9"))

    assert response.status_code == 401  # a new minute, a new budget
    events = trail.events()
    assert [event.changes["minute"][1] for event in events] == ["2027-01-15T08:00Z", "2027-01-15T08:01Z"]
    assert [event.changes["rejected_this_minute"][1] for event in events] == [1, 1]


def test_each_address_has_its_own_budget_and_its_own_event(repos, github):
    trail = Trail()

    for _ in range(31):
        github(push_payload(), **sent_from("203.0.113.9"))
    other = github(push_payload(), **sent_from("198.51.100.4"))

    assert other.status_code == 401
    assert [event.context["client_ip"] for event in trail.events()] == ["203.0.113.9", "198.51.100.4"]


def test_signed_deliveries_from_a_throttled_address_are_unaffected(repos, github, enqueued):
    """GitHub sends everyone's webhooks from the same addresses: a stranger's misconfigured hook must not block ours."""
    for _ in range(60):
        github(push_payload(), **sent_from("203.0.113.9"))
    trail = Trail()

    response = github(push_payload(), secret=repos.churn_secret, **sent_from("203.0.113.9"))

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert len(enqueued) == 1
    assert Action.WEBHOOK_REJECTED not in trail.actions()


def test_malformed_deliveries_are_refused_without_counting_or_recording(repos, github):
    trail = Trail()

    responses = [github(body=b"{not json", **sent_from("203.0.113.9")) for _ in range(40)]

    assert {r.status_code for r in responses} == {400}
    assert trail.actions() == []
