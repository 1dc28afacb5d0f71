"""Inventory API: listing and finding models, registering models and versions from CI, who may do what, and how
bad input is refused (a problem document, nothing written)."""

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ServiceToken
from apps.accounts.tokens import token_revoke
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services
from apps.inventory.models import ModelVersion, RegisteredModel
from tests.api.conftest import assert_problem
from tests.conftest import DIGEST, Trail, needs_postgres

MODELS = "/api/v1/models/"
SCORECARD = "/api/v1/models/retail-scorecard/"
DETECTOR = "/api/v1/models/card-fraud-detector/"


def register(cast, name, *, team=None, actor=None, **fields):
    fields = {"risk_tier": "low"} | fields
    with transaction.atomic():
        return services.registered_model_register(
            actor=Actor.of(actor or cast.dana), team=team or cast.team_a, name=name, **fields
        )


def names(response):
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


@pytest.fixture
def dana(session_client, cast):
    return session_client(cast.dana)


@pytest.fixture
def catalogue(cast, models):
    """Beside the fixture's two models: three more in team A with different tiers, tags and statuses."""
    register(cast, "Mortgage PD", risk_tier="medium", tags=["credit", "pd"], description="Probability of default.")
    register(cast, "Collections Uplift", risk_tier="critical", tags=["collections"])
    chatbot = register(cast, "Support Chatbot", risk_tier="low", tags=["nlp"], description="Answers credit questions.")
    with transaction.atomic():
        services.registered_model_set_lifecycle(
            actor=Actor.of(cast.dana), model=chatbot, status="validation", reason="Ready for review."
        )
    return models


# --- reading ----------------------------------------------------------------------------------------------------------


def test_the_list_holds_only_models_the_principal_may_see(cast, models, session_client, token_client):
    assert names(session_client(cast.dana).get(MODELS)) == ["Retail Scorecard"]
    assert names(session_client(cast.ben).get(MODELS)) == ["Card Fraud Detector"]
    assert names(session_client(cast.admin).get(MODELS)) == ["Card Fraud Detector", "Retail Scorecard"]
    assert names(token_client(["read"]).get(MODELS)) == ["Retail Scorecard"]
    assert names(token_client(["read"], team="b").get(MODELS)) == ["Card Fraud Detector"]


def test_a_model_reads_with_its_team_owners_tags_version_count_and_page_url(dana, models):
    body = dana.get(SCORECARD).json()
    assert body["slug"] == "retail-scorecard" and body["team"] == "credit-risk" and body["team_name"] == "Credit Risk"
    assert body["risk_tier"] == "high" and body["lifecycle_status"] == "development"
    assert body["owners"] == ["dana"] and body["validator"] == "rita" and body["tags"] == ["credit"]
    assert body["version_count"] == 2 and body["latest_version_at"]
    assert body["url"].endswith("/models/retail-scorecard/")
    assert body["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "query, expected",
    [
        ("team=credit-risk", ["Collections Uplift", "Mortgage PD", "Retail Scorecard", "Support Chatbot"]),
        ("team=fraud", []),  # not visible to dana: filtered to nothing, not an error
        ("risk_tier=critical", ["Collections Uplift"]),
        ("lifecycle_status=validation", ["Support Chatbot"]),
        ("tag=credit", ["Mortgage PD", "Retail Scorecard"]),
        ("tag=CREDIT&risk_tier=medium", ["Mortgage PD"]),
        ("search=scorecard", ["Retail Scorecard"]),
        ("search=credit", ["Mortgage PD", "Retail Scorecard", "Support Chatbot"]),  # tags and description
        ("search=default", ["Mortgage PD"]),
        ("ordering=-name", ["Support Chatbot", "Retail Scorecard", "Mortgage PD", "Collections Uplift"]),
        ("ordering=-risk", ["Collections Uplift", "Retail Scorecard", "Mortgage PD", "Support Chatbot"]),
        ("ordering=risk", ["Support Chatbot", "Mortgage PD", "Retail Scorecard", "Collections Uplift"]),
        ("ordering=-updated_at", ["Support Chatbot", "Collections Uplift", "Mortgage PD", "Retail Scorecard"]),
    ],
)
def test_the_list_filters_searches_and_orders(dana, catalogue, query, expected):
    assert names(dana.get(f"{MODELS}?{query}")) == expected


def test_the_list_is_paginated(dana, catalogue):
    first = dana.get(f"{MODELS}?page_size=3").json()
    assert first["count"] == 4 and len(first["results"]) == 3 and first["next"] and first["previous"] is None
    second = dana.get(first["next"]).json()
    assert [row["name"] for row in second["results"]] == ["Support Chatbot"] and second["next"] is None


def test_the_list_pages_by_cursor_both_ways_and_says_when_its_count_is_capped(dana, catalogue, monkeypatch):
    from apps.core import keyset

    first = dana.get(f"{MODELS}?page_size=2&ordering=-risk").json()
    second = dana.get(first["next"]).json()
    back = dana.get(second["previous"]).json()

    assert "cursor=" in first["next"] and "ordering=-risk" in first["next"]
    assert [row["name"] for row in first["results"] + second["results"]] == [
        "Collections Uplift", "Retail Scorecard", "Mortgage PD", "Support Chatbot",
    ]  # fmt: skip
    assert back["results"] == first["results"] and back["previous"] is None
    assert (first["count"], first["count_capped"]) == (4, False)
    monkeypatch.setattr(keyset, "COUNT_CAP", 3)
    assert (dana.get(MODELS).json()["count"], dana.get(MODELS).json()["count_capped"]) == (3, True)


@pytest.mark.parametrize("cursor", ["nonsense", "e30"])
def test_a_cursor_the_list_did_not_make_is_a_400_naming_cursor(dana, models, cursor):
    body = assert_problem(dana.get(f"{MODELS}?cursor={cursor}"), 400, "invalid")
    assert set(body["errors"]) == {"cursor"}


def test_a_page_of_models_or_versions_takes_a_fixed_number_of_queries(cast, dana, models):
    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert dana.get(url).status_code == 200
        return len(queries)

    count(MODELS)  # warms the content-type cache the permission check reads
    few = count(MODELS), count(f"{SCORECARD}versions/")
    for n in range(6):
        owners = [cast.dana, cast.alice]
        model = register(cast, f"Extra {n}", tags=[f"t{n}", "extra"], owners=owners, validator=cast.rita)
        with transaction.atomic():
            services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version=f"9.{n}")
            services.model_version_create(actor=Actor.of(cast.dana), model=model, version="1.0")
    assert (count(MODELS), count(f"{SCORECARD}versions/")) == few


@pytest.mark.parametrize("query", ["risk_tier=extreme", "lifecycle_status=archived"])
def test_an_invalid_filter_is_a_400_problem(dana, models, query):
    body = assert_problem(dana.get(f"{MODELS}?{query}"), 400, "invalid")
    assert set(body["errors"]) == {query.split("=")[0]}


@pytest.mark.parametrize("page", ["99", "abc", "0", "-1"])
def test_an_invalid_page_is_a_problem_not_a_crash(dana, models, page):
    # The shared paginator (apps.core.api) decides the status: DRF's own answer is 404 "Invalid page.", which the
    # schema documents only for paths with an id; a 400 naming `page` would match the schema's 400 for bad input.
    response = dana.get(f"{MODELS}?page={page}")
    assert response.status_code in (400, 404)
    assert "page" in json.dumps(assert_problem(response, response.status_code)).lower()


def test_versions_list_newest_first_with_git_provenance(dana, models):
    response = dana.get(f"{SCORECARD}versions/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["version"] for row in rows] == ["1.1.0", "1.0.0"]
    first = rows[0]
    for field in ("source", "git_tag", "git_author", "git_committed_at", "stages", "deregistered", "source_metadata",
                  "created_at", "url", "artifact_digest", "metrics", "parent"):  # fmt: skip
        assert field in first
    assert first["source"] == "manual" and first["metrics"] == {"auc": 0.81} and first["artifact_digest"] == DIGEST
    assert first["url"].endswith("/models/retail-scorecard/versions/1.1.0/")


def test_a_version_is_found_by_its_version_string(dana, models):
    body = dana.get(f"{SCORECARD}versions/1.0.0/").json()
    assert body["version"] == "1.0.0" and body["model"] == "retail-scorecard" and body["created_by"] == "dana"
    assert_problem(dana.get(f"{SCORECARD}versions/9.9.9/"), 404)


def test_git_provenance_of_a_synced_version_is_shown(cast, dana, models):
    committed = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        services.model_version_create(
            actor=Actor.system("git-sync"), model=models.scorecard, version="2.0.0", source="git",
            git_commit_sha="b" * 40, git_tag="retail-scorecard@v2.0.0", git_author="Dana <dana@example.com>",
            git_committed_at=committed, stages=["staging"], source_metadata={"mlflow": {"flavor": "sklearn"}},
        )  # fmt: skip
    body = dana.get(f"{SCORECARD}versions/2.0.0/").json()
    assert body["source"] == "git" and body["git_tag"] == "retail-scorecard@v2.0.0" and body["stages"] == ["staging"]
    assert body["git_author"] == "Dana <dana@example.com>" and body["source_metadata"]["mlflow"]["flavor"] == "sklearn"
    assert body["git_committed_at"] == committed.isoformat().replace("+00:00", "Z")
    assert body["created_by"] is None


def test_environments_are_readable_by_any_principal(cast, token_client, db):
    from apps.inventory.services import environment_save

    with transaction.atomic():
        for order, name in enumerate(["Development", "Staging", "Production"]):
            environment_save(actor=Actor.of(cast.admin), name=name, order=order, protected=name == "Production")
    client = token_client(["report-deployment"])
    listed = client.get("/api/v1/environments/").json()["results"]
    assert [env["slug"] for env in listed] == ["development", "staging", "production"]
    assert client.get("/api/v1/environments/production/").json()["protected"] is True
    assert_problem(client.get("/api/v1/environments/moon/"), 404)


# --- writing through a token ------------------------------------------------------------------------------------------

NEW_MODEL = {
    "name": "Churn Predictor", "team": "credit-risk", "risk_tier": "medium", "description": "Who leaves.",
    "intended_use": "Retention offers.", "limitations": "Not for pricing.", "eu_ai_act_category": "limited",
    "tags": ["Churn", "retention"], "source_repository_url": "https://github.com/acme/churn", "source_path": "models/",
}  # fmt: skip


def test_a_register_token_registers_a_model_audited_as_the_token(token_client, models):
    client, trail = token_client(["register"]), Trail()
    response = client.post(MODELS, NEW_MODEL)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (
        body["slug"] == "churn-predictor" and body["team"] == "credit-risk" and body["tags"] == ["churn", "retention"]
    )
    assert body["eu_ai_act_category"] == "limited" and body["lifecycle_status"] == "development"
    assert body["version_count"] == 0 and response["Location"] == "/api/v1/models/churn-predictor/"
    [event] = trail.events()
    assert event.action == "model.registered" and event.actor_kind == "token"
    assert event.actor_label == f"{client.account.username} (token {client.token.prefix})"
    assert event.actor_label.startswith("svc-") and event.context["source"] == "api"
    assert RegisteredModel.objects.get(slug="churn-predictor").created_by == client.account


def test_a_register_token_adds_versions_with_source_api_and_a_parent(token_client, models):
    client, trail = token_client(["register"]), Trail()
    response = client.post(
        f"{SCORECARD}versions/",
        {"version": "1.2.0", "artifact_uri": "s3://models/retail/1.2.0", "artifact_digest": "SHA256:" + "C" * 64,
         "git_commit_sha": "d" * 40, "framework": "xgboost", "metrics": {"auc": 0.84}, "parameters": {"depth": 6},
         "model_card": "# Retail Scorecard 1.2", "training_data": ["s3://data/2026-09"], "parent": "1.1.0"},
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source"] == "api" and body["parent"] == "1.1.0" and body["artifact_digest"] == "c" * 64
    assert body["created_by"] == client.account.username
    assert response["Location"] == "/api/v1/models/retail-scorecard/versions/1.2.0/"
    assert trail.actions(actor_kind="token") == ["version.created"]
    version = ModelVersion.objects.get(model=models.scorecard, version="1.2.0")
    assert version.parent.version == "1.1.0" and version.source == "api"
    # The answer is rendered from what the service made, not read back: it must be what reading it back shows.
    assert client.get(response["Location"]).json() == body


def test_adding_a_version_takes_a_fixed_number_of_queries(token_client, models, cast):
    """Whatever the model's size: the token, the model, the parent as the body names it, the service's lock,
    roles (which also say the parent, a version of the locked model, is one the token may see) and taken versions,
    the version's INSERT, the chain head's lock, the event's INSERT and the head's and model's UPDATEs (11), and the
    SAVEPOINT and RELEASE of the service's transaction inside the test's. The answer is not read back."""
    client = token_client(["register"])
    assert client.get(SCORECARD).status_code == 200  # the token's first use also stamps its last-used time
    for n in range(5):  # a model with more versions costs the same
        services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version=f"0.{n}.0")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"{SCORECARD}versions/", {"version": "1.2.0", "parent": "1.1.0"})
    assert response.status_code == 201, response.content
    assert len(queries) == 13, "\n".join(query["sql"][:120] for query in queries)


def test_no_audit_event_holds_the_plaintext_token(token_client, models):
    client = token_client(["register"])
    secret = client.plaintext.split("_", 2)[2]  # gpt_<prefix>_<secret>; the secret may hold "_" itself
    client.post(MODELS, NEW_MODEL)
    client.post(f"{SCORECARD}versions/", {"version": "1.2.0"})
    client.patch(SCORECARD, {"description": "Changed by CI."})
    events = AuditEvent.objects.all()
    assert {"model.registered", "version.created", "model.updated"} <= {event.action for event in events}
    for event in events:
        dumped = json.dumps([event.actor_label, event.target_label, event.changes, event.context], default=str)
        assert client.plaintext not in dumped and secret not in dumped


def test_patch_changes_only_the_fields_sent(dana, cast, models):
    trail = Trail()
    response = dana.patch(SCORECARD, {"description": "Scores retail applicants.", "tags": ["credit", "retail"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "Scores retail applicants." and body["tags"] == ["credit", "retail"]
    assert body["risk_tier"] == "high" and body["owners"] == ["dana"] and body["version_count"] == 2
    [event] = trail.events()
    assert event.action == "model.updated" and set(event.changes) == {"description", "tags"}
    assert event.actor_kind == "user" and event.actor_label == "dana"


def test_patch_a_version(dana, models):
    trail = Trail()
    response = dana.patch(f"{SCORECARD}versions/1.1.0/", {"metrics": {"auc": 0.83}, "parent": "1.0.0"})
    assert response.status_code == 200, response.content
    assert response.json()["metrics"] == {"auc": 0.83} and response.json()["parent"] == "1.0.0"
    assert trail.actions() == ["version.updated"]
    response = dana.patch(f"{SCORECARD}versions/1.1.0/", {"parent": None})
    assert response.json()["parent"] is None


def test_put_and_delete_are_not_offered(dana, models):
    assert_problem(dana.put(SCORECARD, {"name": "x"}), 405)
    assert_problem(dana.delete(SCORECARD), 405)
    assert_problem(dana.delete(f"{SCORECARD}versions/1.0.0/"), 405)


# --- who may do what --------------------------------------------------------------------------------------------------

SCOPE_CASES = [
    ("get", MODELS, None, {"read": 200, "register": 200, "request-deploy": 200, "report-deployment": 200}),
    ("get", SCORECARD, None, {"read": 200, "register": 200, "request-deploy": 200, "report-deployment": 200}),
    ("get", f"{SCORECARD}versions/1.0.0/", None, {"read": 200, "register": 200, "request-deploy": 200}),
    ("post", MODELS, NEW_MODEL, {"read": 403, "register": 201, "request-deploy": 403, "report-deployment": 403}),
    ("patch", SCORECARD, {"description": "CI"}, {"read": 403, "register": 200, "request-deploy": 403}),
    ("post", f"{SCORECARD}versions/", {"version": "2.0.0"}, {"read": 403, "register": 201, "report-deployment": 403}),
    ("patch", f"{SCORECARD}versions/1.0.0/", {"framework": "onnx"}, {"read": 403, "register": 200}),
    # Another team's model is invisible to every token of team A: 404, never 403.
    ("get", DETECTOR, None, {"read": 404, "register": 404}),
    ("patch", DETECTOR, {"description": "CI"}, {"read": 404, "register": 404}),
    ("post", f"{DETECTOR}versions/", {"version": "3.1.0"}, {"read": 404, "register": 404, "request-deploy": 404}),
    ("get", f"{DETECTOR}versions/3.0.0/", None, {"register": 404}),
    ("post", MODELS, NEW_MODEL | {"team": "fraud"}, {"register": 403}),  # teams are not secret; the service refuses
]


@pytest.mark.parametrize(
    "method, url, data, scope, expected",
    [(m, u, d, scope, status) for m, u, d, cases in SCOPE_CASES for scope, status in cases.items()],
)
def test_token_scopes(token_client, models, method, url, data, scope, expected):
    client, trail = token_client([scope]), Trail()
    response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert_problem(response, expected)
        assert trail.events() == []


ROLE_CASES = {
    # person: (read team A model, change it, add a version to it, read team B model, add a version to it)
    "dana": (200, 200, 201, 404, 404),  # contributor in A
    "vera": (200, 403, 403, 404, 404),  # viewer in A
    "rita": (200, 403, 403, 404, 404),  # approver in A
    "audrey": (200, 403, 403, 404, 404),  # auditor in A
    "alice": (200, 200, 201, 404, 404),  # admin of A
    "ben": (404, 404, 404, 200, 201),  # admin of B
    "admin": (200, 200, 201, 200, 201),  # superuser
}


@pytest.mark.parametrize("person", ROLE_CASES)
def test_roles_by_team(cast, models, session_client, person):
    client = session_client(getattr(cast, person))
    statuses = (
        client.get(SCORECARD).status_code,
        client.patch(SCORECARD, {"limitations": f"Seen by {person}."}).status_code,
        client.post(f"{SCORECARD}versions/", {"version": "5.0.0"}).status_code,
        client.get(DETECTOR).status_code,
        client.post(f"{DETECTOR}versions/", {"version": "5.0.0"}).status_code,
    )
    assert statuses == ROLE_CASES[person]


def test_anonymous_requests_are_refused_with_401(api, models):
    body = assert_problem(api.get(MODELS), 401, "not_authenticated")
    assert body["detail"]
    assert_problem(api.post(MODELS, NEW_MODEL), 401)


@pytest.mark.parametrize("how", ["expired", "revoked", "unknown", "malformed"])
def test_unusable_tokens_are_refused_with_401(cast, token_client, models, how):
    client = token_client(["register"])
    if how == "expired":
        ServiceToken.objects.filter(pk=client.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif how == "revoked":
        with transaction.atomic():
            token_revoke(actor=Actor.of(cast.alice), token=client.token)
    elif how == "unknown":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.plaintext[:-4]}abcd")
    else:
        client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    trail = Trail()
    response = client.get(MODELS)
    body = assert_problem(response, 401, "authentication_failed")
    assert "expired or revoked" in body["detail"]
    assert_problem(client.post(MODELS, NEW_MODEL), 401)
    assert not RegisteredModel.objects.filter(slug="churn-predictor").exists() and trail.events() == []


# --- bad input --------------------------------------------------------------------------------------------------------


@pytest.fixture
def nothing_written(models):
    """Asserts, after the test, that no model, version or audit event was added."""
    counts = (RegisteredModel.objects.count(), ModelVersion.objects.count())
    trail = Trail()
    yield
    assert (RegisteredModel.objects.count(), ModelVersion.objects.count()) == counts
    assert trail.events() == []


@pytest.mark.parametrize(
    "body, field, message",
    [
        (NEW_MODEL | {"risk_teir": "low"}, "risk_teir", "Unknown or read-only field."),
        (NEW_MODEL | {"lifecycle_status": "production"}, "lifecycle_status", "Unknown or read-only field."),
        (NEW_MODEL | {"slug": "mine"}, "slug", "Unknown or read-only field."),
        (NEW_MODEL | {"risk_tier": 3}, "risk_tier", '"3" is not a valid choice.'),
        (NEW_MODEL | {"tags": "credit"}, "tags", 'Expected a list of items but got type "str".'),
        (NEW_MODEL | {"team": "nowhere"}, "team", "Object with slug=nowhere does not exist."),
        (NEW_MODEL | {"owners": ["nobody"]}, "owners", "Object with username=nobody does not exist."),
        (NEW_MODEL | {"tags": ["Not a tag!"]}, "tags", "Tag 'not a tag!' is not valid"),
        (NEW_MODEL | {"name": "Retail Scorecard"}, "name", "exists"),
        (NEW_MODEL | {"next_validation_due": "tomorrow"}, "next_validation_due", "Date has wrong format."),
        ({k: v for k, v in NEW_MODEL.items() if k != "risk_tier"}, "risk_tier", "This field is required."),
    ],
)
def test_a_bad_model_body_is_a_400_naming_the_field(dana, nothing_written, body, field, message):
    problem = assert_problem(dana.post(MODELS, body), 400, "invalid")
    assert field in problem["errors"], problem
    assert message in " ".join(problem["errors"][field]), problem


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"version": "2.0.0", "artifact_digest": "abc123"}, "artifact_digest", "Enter a SHA-256 digest"),
        ({"version": "2.0.0", "git_commit_sha": "abc"}, "git_commit_sha", "full Git commit SHA"),
        ({"version": "2.0.0", "metrics": [1, 2]}, "metrics", 'Expected a dictionary of items but got type "list".'),
        ({"version": "2.0.0", "metrics": {"auc": "high"}}, "metrics", "must be a number"),
        ({"version": "2.0.0", "training_data": "s3://x"}, "training_data", "Expected a list"),
        ({"version": "2.0.0", "parent": "0.0.1"}, "parent", "Retail Scorecard has no version 0.0.1."),
        ({"version": "2.0.0", "source": "git"}, "source", "Unknown or read-only field."),
        ({"version": "2.0.0", "git_tag": "v2"}, "git_tag", "Unknown or read-only field."),
        ({"version": "1.0.0"}, "version", "already has a version 1.0.0"),
        ({"version": "not a version"}, "version", "A version starts with a letter or digit"),
        ({"artifact_digest": DIGEST}, "version", "This field is required."),
    ],
)
def test_a_bad_version_body_is_a_400_naming_the_field(dana, nothing_written, body, field, message):
    problem = assert_problem(dana.post(f"{SCORECARD}versions/", body), 400, "invalid")
    assert field in problem["errors"], problem
    assert message in " ".join(problem["errors"][field]), problem


def test_a_bad_patch_changes_nothing(dana, nothing_written):
    problem = assert_problem(dana.patch(SCORECARD, {"description": "ok", "team": "fraud"}), 400, "invalid")
    assert set(problem["errors"]) == {"team"}  # a model does not move teams through the API
    problem = assert_problem(dana.patch(f"{SCORECARD}versions/1.0.0/", {"version": "1.0.1"}), 400, "invalid")
    assert set(problem["errors"]) == {"version"}
    assert_problem(dana.patch(f"{SCORECARD}versions/1.0.0/", {"artifact_digest": "f" * 63}), 400, "invalid")
    assert ModelVersion.objects.get(version="1.0.0", model__slug="retail-scorecard").artifact_digest == DIGEST


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"[1, 2, 3]", "invalid"),  # not an object
        (b'"a string"', "invalid"),
        (b"{not json", "parse_error"),
        (b'{"name": "x", "name": ', "parse_error"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(dana, nothing_written, raw, code):
    assert_problem(dana.post(MODELS, raw, content_type="application/json"), 400, code)


def test_a_form_encoded_body_is_refused(dana, nothing_written):
    assert_problem(dana.post(MODELS, "name=x&team=credit-risk", content_type="application/x-www-form-urlencoded"), 415)


def test_a_huge_body_is_refused_with_a_problem_not_a_crash(dana, nothing_written):
    huge = json.dumps(NEW_MODEL | {"description": "x" * 3_000_000})
    assert_problem(dana.post(MODELS, huge, content_type="application/json"), 413, "payload_too_large")
    huge_card = json.dumps({"version": "2.0.0", "model_card": "# card\n" * 450_000})
    assert_problem(dana.post(f"{SCORECARD}versions/", huge_card, content_type="application/json"), 413)
    big_patch = json.dumps({"model_card": "x" * 3_000_000})
    assert_problem(dana.patch(f"{SCORECARD}versions/1.0.0/", big_patch, content_type="application/json"), 413)


def test_a_body_under_the_limit_but_over_a_field_limit_is_a_400(dana, nothing_written):
    problem = assert_problem(dana.post(f"{SCORECARD}versions/", {"version": "2.0.0", "model_card": "x" * 100_001}), 400)
    assert "model_card" in problem["errors"]


# --- many versions at once ------------------------------------------------------------------------------------------

BULK = f"{SCORECARD}versions/bulk/"


def batch(n, start=0, **fields):
    return [{"version": f"4.{i}.0", "artifact_digest": "sha256:" + "E" * 64, **fields} for i in range(start, start + n)]


def test_a_register_token_adds_a_batch_of_versions_each_audited(token_client, models):
    client, trail = token_client(["register"]), Trail()
    response = client.post(BULK, {"versions": batch(3, parent="1.1.0", metrics={"auc": 0.9})}, format="json")
    assert response.status_code == 201, response.content
    rows = response.json()["versions"]
    assert [row["version"] for row in rows] == ["4.0.0", "4.1.0", "4.2.0"]  # in the order sent
    assert {(row["source"], row["parent"], row["artifact_digest"], row["created_by"]) for row in rows} == {
        ("api", "1.1.0", "e" * 64, client.account.username)
    }
    assert (
        rows[0]["url"].endswith("/models/retail-scorecard/versions/4.0.0/") and rows[0]["model"] == "retail-scorecard"
    )
    events = trail.events()
    assert [(event.action, event.actor_kind, event.target_label) for event in events] == [
        ("version.created", "token", f"Retail Scorecard 4.{i}.0") for i in range(3)
    ]
    assert events[0].changes["parent"] == [None, "Retail Scorecard 1.1.0"] and events[0].context["source"] == "api"
    assert models.scorecard.versions.count() == 5


def test_a_batch_answers_in_a_fixed_number_of_queries(dana, models):
    needs_postgres()  # SQLite splits a long INSERT into several

    def count(start, n):
        with CaptureQueriesContext(connection) as queries:
            response = dana.post(BULK, {"versions": batch(n, start=start, parent="1.0.0")}, format="json")
        assert response.status_code == 201, response.content
        assert len(response.json()["versions"]) == n
        return len(queries)

    count(900, 1)  # warms the content-type cache the permission check reads
    assert count(0, 5) == count(100, 200)


@pytest.mark.parametrize(
    "entries, key, message",
    [
        (
            [*batch(3), {"version": "5.0.0", "artifact_digest": "abc"}],
            "versions[3].artifact_digest",
            "Enter a SHA-256 digest",
        ),
        ([*batch(2), {"version": "5.0.0", "source": "git"}], "versions[2].source", "Unknown or read-only field."),
        ([*batch(2), {"artifact_digest": DIGEST}], "versions[2].version", "This field is required."),
        ([*batch(2), {"version": "5.0.0", "metrics": [1]}], "versions[2].metrics", "Expected a dictionary"),
        ([*batch(2), "5.0.0"], "versions[2]", "Expected a dictionary, but got str."),
        ([*batch(1), {"version": "5.0.0", "parent": "0.0.1"}], "versions[1].parent", "has no version 0.0.1."),
        (
            [*batch(2), {"version": "5.0.0", "parent": "4.0.0"}],
            "versions[2].parent",
            "has no version 4.0.0 yet: a parent is registered before the batch that names it.",
        ),
        ([*batch(2), {"version": "1.0.0"}], "versions[2].version", "Retail Scorecard already has a version 1.0.0."),
        ([*batch(2), *batch(1)], "versions[2].version", "Version 4.0.0 is already in this batch, at versions[0]."),
        ([], "versions", "This list may not be empty."),
        ({"version": "5.0.0"}, "versions", 'Expected a list of items but got type "dict".'),
        (batch(1001), "versions", "Ensure this field has no more than 1000 elements."),
    ],
)
def test_a_bad_batch_is_a_400_naming_the_entry_and_field(dana, nothing_written, entries, key, message):
    problem = assert_problem(dana.post(BULK, {"versions": entries}, format="json"), 400, "invalid")
    assert key in problem["errors"], problem
    assert message in " ".join(problem["errors"][key]), problem


def test_a_batch_with_another_key_is_refused(dana, nothing_written):
    problem = assert_problem(dana.post(BULK, {"versions": batch(1), "model": "x"}, format="json"), 400, "invalid")
    assert problem["errors"] == {"model": ["Unknown or read-only field."]}


def refused_and_nothing_written(client, url, expected):
    counts, trail = (RegisteredModel.objects.count(), ModelVersion.objects.count()), Trail()
    assert_problem(client.post(url, {"versions": batch(2)}, format="json"), expected)
    assert (RegisteredModel.objects.count(), ModelVersion.objects.count()) == counts and trail.events() == []


@pytest.mark.parametrize(
    "who, url, expected",
    [
        ("read", BULK, 403), ("request-deploy", BULK, 403), ("report-deployment", BULK, 403),
        ("register", f"{DETECTOR}versions/bulk/", 404),  # another team's model: invisible
        ("vera", BULK, 403), ("rita", BULK, 403), ("ben", BULK, 404),
    ],
)  # fmt: skip
def test_who_may_not_add_versions_is_refused_and_nothing_is_written(
    cast, models, token_client, session_client, who, url, expected
):
    person = getattr(cast, who, None)
    refused_and_nothing_written(session_client(person) if person else token_client([who]), url, expected)


def test_a_token_whose_account_lost_its_role_is_refused(cast, models, token_client):
    from apps.accounts import services as accounts
    from apps.accounts.models import Membership

    client = token_client(["register"])
    with transaction.atomic():
        membership = Membership.objects.get(user=client.account, role="contributor")
        accounts.membership_revoke(actor=Actor.of(cast.alice), membership=membership)
    refused_and_nothing_written(client, BULK, 403)


def test_get_on_the_bulk_path_is_a_version_named_bulk_or_404(dana, models):
    assert_problem(dana.get(BULK), 404)  # no version is called "bulk" yet

    created = dana.post(f"{SCORECARD}versions/", {"version": "bulk", "artifact_digest": "sha256:" + "F" * 64})
    assert created.status_code == 201, created.content
    assert created.headers["Location"].endswith("/versions/bulk/")

    assert dana.get(BULK).json()["version"] == "bulk"
    trail = Trail()
    patched = dana.patch(BULK, {"metrics": {"auc": 0.7}}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["version"] == "bulk" and patched.json()["metrics"] == {"auc": 0.7}
    assert trail.actions() == ["version.updated"]
