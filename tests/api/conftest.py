"""Shared API fixtures: a plain client, a client per service token, and a client per signed-in person.

Other apps' API tests import nothing from here: pytest hands these fixtures to every test under tests/api/.

    def test_read_token_lists_models(token_client, models):
        client = token_client(["read"])            # a service account in team A ("credit-risk")
        assert client.get("/api/v1/models/").status_code == 200
        client.token, client.plaintext, client.account  # the row, the full token, the service account

    from tests.api.conftest import assert_problem  # a 4xx is an RFC 9457 problem document
    assert_problem(client.post("/api/v1/models/", {}), 400, "invalid")
"""

import itertools

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from apps.accounts.tokens import service_account_create, token_create
from apps.audit.actors import Actor

_names = itertools.count(1)
PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """The response is an RFC 9457 problem with this status (and code, if given); returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM), response["Content-Type"]
    body = response.json()
    assert body["status"] == status and body["title"] and "detail" in body, body
    if code:
        assert body["code"] == code, body
    return body


def _team(cast, team):
    """`team` is "a", "b" or a Team; returns the team and one of its admins (who may issue its tokens)."""
    if team == "a":
        return cast.team_a, cast.alice
    if team == "b":
        return cast.team_b, cast.ben
    return team, cast.admin


@pytest.fixture
def api():
    """An anonymous DRF test client."""
    return APIClient()


@pytest.fixture
def token_for(cast):
    """token_for(scopes, team="a", name=None, expires_in_days=90) -> (ServiceToken, plaintext).

    Makes a fresh service account in the team (through the services, so audited) and issues it a token.
    """

    def make(scopes, team="a", name=None, expires_in_days=90):
        team, admin = _team(cast, team)
        name = name or f"ci-{next(_names)}"
        with transaction.atomic():
            account = service_account_create(actor=Actor.of(admin), team=team, name=name)
            token, plaintext = token_create(
                actor=Actor.of(admin), account=account, name=f"{name} token", scopes=list(scopes),
                expires_in_days=expires_in_days,
            )  # fmt: skip
        return token, plaintext

    return make


@pytest.fixture
def token_client(token_for):
    """token_client(scopes, team="a", **kwargs) -> APIClient sending `Authorization: Bearer gpt_...`.

    The client carries `.token` (the ServiceToken row), `.plaintext` and `.account` for assertions.
    """

    def make(scopes, team="a", **kwargs):
        token, plaintext = token_for(scopes, team=team, **kwargs)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        client.token, client.plaintext, client.account = token, plaintext, token.account
        return client

    return make


@pytest.fixture
def session_client(db):
    """session_client(user) -> APIClient signed in as `user` (session auth, as the browser would be)."""

    def make(user):
        client = APIClient()
        client.force_login(user)
        client.user = user
        return client

    return make
