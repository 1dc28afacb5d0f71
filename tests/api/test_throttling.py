"""Each service token (and each signed-in person) has its own request budget; over it, a 429 problem."""

import pytest
from django.core.cache import cache

from apps.core.api import PrincipalRateThrottle

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def small_budget(monkeypatch):
    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"principal": "3/minute"})
    cache.clear()
    yield
    cache.clear()


def test_a_token_over_its_budget_gets_429_with_retry_after_and_other_tokens_do_not(token_client, session_client, cast):
    first, second = token_client(["read"]), token_client(["read"])

    statuses = [first.get("/api/v1/environments/").status_code for _ in range(3)]
    refused = first.get("/api/v1/environments/")

    assert statuses == [200, 200, 200]
    body = assert_problem(refused, 429, "throttled")
    assert int(refused["Retry-After"]) > 0
    assert "throttled" in body["detail"].lower() or "request" in body["detail"].lower()
    assert second.get("/api/v1/environments/").status_code == 200  # its own budget
    assert session_client(cast.dana).get("/api/v1/environments/").status_code == 200
