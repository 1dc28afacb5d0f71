"""Deployments over the API: targets without secrets, observation intervals and statuses with their filters and
scope, and the point-in-time answer (its scripted history, its 400s and 404s)."""

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from apps.audit.actors import Actor
from apps.deployments import services
from tests.api.conftest import assert_problem, token_for  # noqa: F401 — token_for is a fixture

from .history import at, interval, scripted, status, target

TARGETS, OBSERVATIONS, STATUSES, AT = (
    "/api/v1/deployments/targets/", "/api/v1/deployments/observations/", "/api/v1/deployments/statuses/",
    "/api/v1/deployments/at",
)  # fmt: skip


@pytest.fixture
def api_as(cast):
    def make(name):
        client = APIClient()
        client.force_login(getattr(cast, name))
        return client

    return make


@pytest.fixture
def history(cast, models, envs):
    h = scripted(cast, models, envs)
    status(models.scorecard, envs.production, "in_sync", "1.0.0 runs on prod-gitops as approved.")
    h.fraud = target(cast, envs.production, name="fraud-serving", team=cast.team_b)
    h.detector = interval(h.fraud, models.detector.versions.get(), 1)
    status(models.detector, envs.production, "unapproved", "3.0.0 runs with no approved request.")
    return h


def results(response) -> list:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- targets --------------------------------------------------------------------------------------------------------


def test_a_target_names_its_credential_and_never_its_reference(cast, envs, granted, api_as):
    with transaction.atomic():
        made = services.target_save(
            actor=Actor.of(cast.admin), name="prod-argocd", environment=envs.production, team=cast.team_a,
            kind="gitops", config={"url": "https://github.com/acme/deploy.git", "paths": ["prod/*.yaml"]},
            credential=granted.github,
        )  # fmt: skip
    response = api_as("vera").get(f"{TARGETS}{made.pk}/")

    body = response.json()
    assert (body["credential"], body["team"], body["environment"]) == ("github-acme", "credit-risk", "production")
    assert body["config"]["url"] == "https://github.com/acme/deploy.git"
    assert "GITHUB_TOKEN" not in response.content.decode()
    assert body["page_url"].endswith(f"/deployments/targets/{made.pk}/")


def test_targets_are_listed_to_their_team_and_to_portal_admins(cast, history, api_as, token_for):  # noqa: F811
    assert [t["name"] for t in results(api_as("vera").get(TARGETS))] == ["prod-gitops"]
    assert [t["name"] for t in results(api_as("ben").get(TARGETS))] == ["fraud-serving"]
    assert {t["name"] for t in results(api_as("admin").get(TARGETS))} == {"prod-gitops", "fraud-serving"}
    _, plaintext = token_for(["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert [t["running_count"] for t in results(client.get(TARGETS))] == [1]
    assert_problem(api_as("ben").get(f"{TARGETS}{history.target.pk}/"), 404)


# --- observations and statuses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", ["r3", "r2", "r1"]), ("current=true", ["r3"]), ("current=false", ["r2", "r1"]),
     ("model=retail-scorecard&environment=production", ["r3", "r2", "r1"]), ("environment=staging", []),
     ("model=card-fraud-detector", [])],
)  # fmt: skip
def test_observations_filter_and_show_only_what_the_user_may_see(cast, history, api_as, query, expected):
    rows = results(api_as("vera").get(f"{OBSERVATIONS}?{query}"))
    assert [row["id"] for row in rows] == [getattr(history, name).pk for name in expected]


def test_an_observation_says_what_ran_where_and_since_when(cast, history, api_as):
    [row] = results(api_as("vera").get(f"{OBSERVATIONS}?target={history.target.pk}&current=true"))
    assert (row["model"], row["version"], row["registered_version"], row["target_name"]) == (
        "retail-scorecard", "1.0.0", "1.0.0", "prod-gitops"
    )  # fmt: skip
    assert row["started_at"] == f"{at(10):%Y-%m-%dT%H:%M:%S}Z" and row["until"] is None and row["current"]
    assert row["commit_sha"] == "c3" * 20
    assert [r["id"] for r in results(api_as("ben").get(OBSERVATIONS))] == [history.detector.pk]


@pytest.mark.parametrize(
    ("name", "query", "expected"),
    [("admin", "", ["card-fraud-detector", "retail-scorecard"]), ("vera", "", ["retail-scorecard"]),
     ("ben", "", ["card-fraud-detector"]), ("admin", "team=credit-risk", ["retail-scorecard"]),
     ("admin", "status=unapproved&status=digest_mismatch", ["card-fraud-detector"]),
     ("admin", "exception=false", ["retail-scorecard"]), ("admin", "model=retail-scorecard", ["retail-scorecard"]),
     ("admin", "environment=staging", [])],
)  # fmt: skip
def test_statuses_come_exceptions_first_filtered_and_scoped(cast, history, api_as, name, query, expected):
    assert [row["model"] for row in results(api_as(name).get(f"{STATUSES}?{query}"))] == expected


def test_a_status_says_what_runs_against_what_was_approved(cast, history, api_as):
    [row] = results(api_as("vera").get(STATUSES))
    assert (row["drift_status"], row["drift_status_label"], row["is_exception"], row["environment"]) == (
        "in_sync", "In sync", False, "production"
    )  # fmt: skip
    assert row["reason"] == "1.0.0 runs on prod-gitops as approved." and row["team"] == "credit-risk"


def test_an_unknown_status_filter_is_a_400(cast, history, api_as):
    assert_problem(api_as("admin").get(f"{STATUSES}?status=fine"), 400, "invalid")


# --- point in time ----------------------------------------------------------------------------------------------------


def ask(client, hours=None, **params):
    query = {"model": "retail-scorecard", "environment": "production"} | params
    if hours is not None:
        query["time"] = f"{at(hours):%Y-%m-%dT%H:%M:%S}Z"
    return client.get(AT, query)


def test_the_point_in_time_answer_over_the_scripted_history(cast, history, api_as):
    client = api_as("vera")

    running = ask(client, 2).json()
    assert running["gap"] is False and running["time"] == f"{at(2):%Y-%m-%dT%H:%M:%S}Z"
    [item] = running["running"]
    assert (item["interval"]["version"], item["interval"]["started_at"], item["interval"]["commit_sha"]) == (
        "1.0.0", f"{at(1):%Y-%m-%dT%H:%M:%S}Z", "c1" * 20
    )  # fmt: skip
    approval = item["approval"]
    assert (approval["request"], approval["policy"], approval["policy_revision"]) == (
        history.a1.pk, "Production high risk", 3
    )  # fmt: skip
    assert [(a["username"], a["meaning"], a["signed"]) for a in approval["approvers"]] == [
        ("rita", "Approved as Model risk review", True)
    ]
    assert item["rollback_from"] is None

    assert ask(client, 3.5).json()["running"][0]["approval"] is None  # 1.1.0 ran before it was approved
    assert ask(client, 6).json()["running"][0]["approval"]["policy_revision"] == 4

    gap = ask(client, 9).json()
    assert gap["gap"] is True and gap["running"] == []
    assert (gap["before"]["version"], gap["before"]["until"]) == ("1.1.0", f"{at(8):%Y-%m-%dT%H:%M:%S}Z")
    assert (gap["after"]["version"], gap["after"]["started_at"]) == ("1.0.0", f"{at(10):%Y-%m-%dT%H:%M:%S}Z")
    assert gap["summary"].startswith("Nothing ran for Retail Scorecard in production at ")

    rollback = ask(client, 11).json()
    [item] = rollback["running"]
    assert item["rollback_from"] == "1.1.0" and item["approval"]["request"] == history.a1.pk
    assert item["interval"]["started_at"] == f"{at(10):%Y-%m-%dT%H:%M:%S}Z"

    with_offset = ask(client, time=f"{at(11) + (at(2) - at(0)):%Y-%m-%dT%H:%M:%S}+02:00").json()
    assert with_offset["time"] == rollback["time"]


@pytest.mark.parametrize(
    ("params", "message"),
    [({"time": None}, "time: This field is required."),
     ({"time": "last tuesday"}, "time: “last tuesday” is not a date and time; use ISO 8601"),
     ({"time": "2026-02-30T00:00:00Z"}, "is not a date and time"),
     ({"time": "2999-01-01T00:00:00Z"}, "time: That time is in the future"),
     ({"environment": "moon"}, "environment: No environment “moon”; environments: staging, production."),
     ({"model": None}, "model: This field is required.")],
)  # fmt: skip
def test_bad_point_in_time_input_is_a_400_that_says_what_is_wrong(cast, history, api_as, params, message):
    query = {"model": "retail-scorecard", "environment": "production", "time": "2026-01-01T00:00:00Z"} | params
    body = assert_problem(api_as("vera").get(AT, {k: v for k, v in query.items() if v is not None}), 400, "invalid")
    assert message in body["detail"]


def test_the_point_in_time_answer_is_404_for_an_invisible_or_unknown_model(cast, history, api_as):
    assert_problem(ask(api_as("ben"), 2), 404)
    assert_problem(ask(api_as("vera"), 2, model="no-such-model"), 404)
    assert_problem(APIClient().get(AT, {"model": "retail-scorecard"}), 401)
