"""Repositories API: reading repositories and their sync runs, "Sync now" from CI, who may do which, and that no
secret (the webhook secret, a token in a URL) is ever in a response."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.gitsync import services
from apps.gitsync.models import GitRepository, SyncRun, SyncStatus
from tests.api.conftest import assert_problem
from tests.conftest import Trail

REPOSITORIES = "/api/v1/repositories/"


def add(cast, name, *, actor=None, team=None, **fields):
    """A repository registered through the service (audited); returns it and its one-time webhook secret."""
    fields = {"url": f"https://github.com/acme/{name}.git", "branch": "main", "default_risk_tier": "high"} | fields
    with transaction.atomic():
        return services.repository_create(actor=Actor.of(actor or cast.alice), team=team or cast.team_a, name=name,
                                          **fields)  # fmt: skip


def run(repository, minutes_ago, status=SyncStatus.SUCCEEDED, **fields):
    """A sync run as a worker would have left it (furniture: runs are written by the sync, not by people)."""
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        repository=repository, trigger="schedule", status=status, started_at=started,
        finished_at=started + timedelta(seconds=5), **fields,
    )  # fmt: skip


@pytest.fixture
def repos(cast, granted):
    credit, credit_secret = add(cast, "credit-models", credential=granted.github)
    fraud, fraud_secret = add(cast, "fraud-models", actor=cast.ben, team=cast.team_b)
    for minutes in range(8):
        run(credit, minutes_ago=10 * (8 - minutes), head_after=f"{minutes:040x}", warnings=[f"warning {minutes}"])
    run(fraud, minutes_ago=3, status=SyncStatus.FAILED, errors=["remote refused"])

    class Repos:
        pass

    result = Repos()
    result.credit, result.fraud, result.secrets = credit, fraud, (credit_secret, fraud_secret)
    return result


def detail(repository):
    return f"{REPOSITORIES}{repository.pk}/"


def test_the_list_holds_only_repositories_of_the_principals_teams(cast, repos, session_client, token_client):
    def listed(client):
        response = client.get(REPOSITORIES)
        assert response.status_code == 200, response.content
        return [row["name"] for row in response.json()["results"]]

    assert listed(session_client(cast.vera)) == ["credit-models"]
    assert listed(session_client(cast.ben)) == ["fraud-models"]
    assert listed(session_client(cast.admin)) == ["credit-models", "fraud-models"]
    assert listed(token_client(["read"])) == ["credit-models"]
    assert listed(token_client(["report-deployment"], team="b")) == ["fraud-models"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("team=credit-risk", ["credit-models"]),
        ("status=never", ["credit-models", "fraud-models"]),  # the runs above are furniture; status is the sync's
        ("search=fraud", ["fraud-models"]),
        ("ordering=-name", ["fraud-models", "credit-models"]),
        ("enabled=false", []),
    ],
)
def test_the_list_filters(cast, repos, session_client, query, expected):
    response = session_client(cast.admin).get(f"{REPOSITORIES}?{query}")
    assert [row["name"] for row in response.json()["results"]] == expected


def test_an_invalid_status_filter_is_a_400(cast, repos, session_client):
    problem = assert_problem(session_client(cast.admin).get(f"{REPOSITORIES}?status=great"), 400, "invalid")
    assert set(problem["errors"]) == {"status"}


def test_a_repository_reads_with_its_latest_runs_and_no_secret(cast, repos, session_client):
    response = session_client(cast.dana).get(detail(repos.credit))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "credit-models" and body["team"] == "credit-risk" and body["branch"] == "main"
    assert body["url"] == "https://github.com/acme/credit-models.git"
    assert body["github_full_name"] == "acme/credit-models"
    assert body["credential"] == "github-acme" and body["has_webhook_secret"] is True
    assert "env:GITHUB_TOKEN" not in response.content.decode()  # where the worker reads it is for portal admins
    assert body["sync_queued"] is False and body["page_url"].endswith(f"/repositories/{repos.credit.pk}/")
    assert [r["head_after"] for r in body["recent_runs"]] == [f"{n:040x}" for n in (7, 6, 5, 4, 3)]
    assert body["recent_runs"][0]["warnings"] == ["warning 7"] and body["recent_runs"][0]["status"] == "succeeded"
    raw = response.content.decode()
    assert [key for key in body if "secret" in key] == ["has_webhook_secret"]
    for secret in (*repos.secrets, repos.credit.webhook_secret_encrypted):
        assert secret not in raw


def test_no_secret_in_any_response(cast, repos, session_client):
    client = session_client(cast.admin)
    pages = [REPOSITORIES, detail(repos.credit), f"{detail(repos.credit)}runs/", detail(repos.fraud)]
    for url in pages:
        raw = client.get(url).content.decode()
        for secret in (*repos.secrets, repos.credit.webhook_secret_encrypted, repos.fraud.webhook_secret_encrypted):
            assert secret not in raw, url


def test_user_info_in_a_stored_url_is_redacted(cast, repos, session_client):
    # The service refuses credentials in URLs; a row written around it must still not leak them.
    GitRepository.objects.filter(pk=repos.credit.pk).update(url="https://x-access:ghp_s3cret@github.com/acme/c.git")
    body = session_client(cast.dana).get(detail(repos.credit)).json()
    assert "ghp_s3cret" not in body["url"] and body["url"].endswith("@github.com/acme/c.git")


def test_runs_are_paginated_newest_first(cast, repos, token_client):
    client = token_client(["read"])
    first = client.get(f"{detail(repos.credit)}runs/?page_size=3").json()
    assert first["count"] == 8 and [r["head_after"] for r in first["results"]] == [f"{n:040x}" for n in (7, 6, 5)]
    last = client.get(f"{detail(repos.credit)}runs/?page_size=3&page=3").json()
    assert [r["head_after"] for r in last["results"]] == [f"{n:040x}" for n in (1, 0)] and last["next"] is None
    beyond = client.get(f"{detail(repos.credit)}runs/?page=9")
    assert_problem(beyond, beyond.status_code)
    assert beyond.status_code in (400, 404)  # the shared paginator's answer (see test_inventory_api)
    assert_problem(client.get(f"{detail(repos.fraud)}runs/"), 404)  # another team's runs: not visible


def test_sync_now_queues_once_and_coalesces_the_next_request(repos, token_client, django_capture_on_commit_callbacks):
    client, trail = token_client(["register"]), Trail()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # the worker's part is tested in gitsync
        first = client.post(f"{detail(repos.credit)}sync/")
        second = client.post(f"{detail(repos.credit)}sync/", {})
    assert first.status_code == 202 and first.json()["queued"] is True and "credit-models" in first.json()["detail"]
    assert second.status_code == 202 and second.json() == {
        "queued": False,
        "detail": "A sync of credit-models was already queued; this request joins it.",
    }
    assert len(callbacks) == 1  # one task handed to the broker, not two
    events = trail.events()
    assert [e.action for e in events] == ["git.sync_requested", "git.sync_requested"]
    assert [e.changes["coalesced"][1] for e in events] == [False, True]
    assert {e.actor_kind for e in events} == {"token"}
    assert events[0].actor_label == f"{client.account.username} (token {client.token.prefix})"
    assert client.get(detail(repos.credit)).json()["sync_queued"] is True


def test_sync_of_a_disabled_repository_is_a_400(cast, repos, session_client):
    with transaction.atomic():
        services.repository_update(actor=Actor.of(cast.alice), repository=repos.credit, enabled=False)
    trail = Trail()
    problem = assert_problem(session_client(cast.dana).post(f"{detail(repos.credit)}sync/"), 400, "invalid")
    assert "disabled" in problem["errors"]["non_field_errors"][0]
    assert trail.events() == []


def test_sync_refuses_a_body_with_fields(cast, repos, session_client):
    trail = Trail()
    problem = assert_problem(session_client(cast.dana).post(f"{detail(repos.credit)}sync/", {"force": True}), 400)
    assert set(problem["errors"]) == {"force"}
    assert trail.events() == [] and GitRepository.objects.get(pk=repos.credit.pk).sync_queued_at is None


SCOPES = {"read": 403, "register": 202, "request-deploy": 403, "report-deployment": 403}


@pytest.mark.parametrize("scope", SCOPES)
def test_token_scopes(repos, token_client, scope):
    client = token_client([scope])
    assert client.get(REPOSITORIES).status_code == 200
    assert client.get(detail(repos.credit)).status_code == 200
    assert client.get(f"{detail(repos.credit)}runs/").status_code == 200
    assert client.post(f"{detail(repos.credit)}sync/").status_code == SCOPES[scope]
    assert client.get(detail(repos.fraud)).status_code == 404
    assert client.post(f"{detail(repos.fraud)}sync/").status_code == 404


@pytest.mark.parametrize(
    "person, team_a, team_b",
    [
        # (read A, sync A), (read B, sync B)
        ("dana", (200, 202), (404, 404)),
        ("vera", (200, 403), (404, 404)),
        ("rita", (200, 403), (404, 404)),
        ("audrey", (200, 403), (404, 404)),
        ("alice", (200, 202), (404, 404)),
        ("ben", (404, 404), (200, 202)),
        ("admin", (200, 202), (200, 202)),
    ],
)
def test_roles_by_team(cast, repos, session_client, person, team_a, team_b):
    client = session_client(getattr(cast, person))
    for repository, expected in ((repos.credit, team_a), (repos.fraud, team_b)):
        got = (client.get(detail(repository)).status_code, client.post(f"{detail(repository)}sync/").status_code)
        assert got == expected, repository.name


def test_repositories_are_read_only(cast, repos, session_client):
    client = session_client(cast.admin)
    assert_problem(client.post(REPOSITORIES, {"name": "x", "url": "https://github.com/acme/x.git"}), 405)
    assert_problem(client.patch(detail(repos.credit), {"enabled": False}), 405)
    assert_problem(client.delete(detail(repos.credit)), 405)
    assert_problem(client.get(f"{detail(repos.credit)}sync/"), 405)


def test_anonymous_and_revoked_tokens_get_401(cast, repos, api, token_client):
    from apps.accounts.tokens import token_revoke

    assert_problem(api.get(REPOSITORIES), 401)
    assert_problem(api.post(f"{detail(repos.credit)}sync/"), 401)
    client = token_client(["register"])
    with transaction.atomic():
        token_revoke(actor=Actor.of(cast.alice), token=client.token)
    assert_problem(client.post(f"{detail(repos.credit)}sync/"), 401, "authentication_failed")
    assert GitRepository.objects.get(pk=repos.credit.pk).sync_queued_at is None
