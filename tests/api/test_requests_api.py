"""/api/v1/deployment-requests/: CI requests through a token, people decide through their session, CI reports.

The furniture: staging is governed by one unsigned step (any approver of the model's team), so a
request can be approved over the API; production keeps a signed step, which the API refuses.
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.approvals import services
from apps.approvals.models import Decision, DeploymentRequest, RequestState
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services as inventory
from apps.inventory.models import Environment
from tests.conftest import Trail

URL = "/api/v1/deployment-requests/"
MODEL_CARD = "# Retail Scorecard\n\nIntended use: retail credit decisions.\n"
PEER_REVIEW = "Peer review"


@pytest.fixture
def furniture(cast, models):
    """Environments, the two policies and a model card on both scorecard versions, made by their owners."""
    admin = Actor.of(cast.admin)
    with transaction.atomic():
        staging = inventory.environment_save(actor=admin, name="staging", order=20, protected=True)
        production = inventory.environment_save(actor=admin, name="production", order=30, protected=True)
        services.policy_save(
            actor=admin, name="Staging", environment=staging, risk_tiers=["high"],
            steps=[{"name": PEER_REVIEW, "approver_kind": "role", "role": "approver", "quorum": 1,
                    "requires_signature": False, "due_hours": 24}],
        )  # fmt: skip
        services.policy_save(
            actor=admin, name="Production", environment=production, risk_tiers=["high"],
            steps=[{"name": "Model risk review", "approver_kind": "role", "role": "approver", "quorum": 1,
                    "requires_signature": True, "due_hours": 72}],
        )  # fmt: skip
        for version in models.scorecard.versions.all():
            inventory.model_version_update(actor=Actor.of(cast.dana), version=version, model_card=MODEL_CARD)
    return models.scorecard


def body(**overrides):
    data = {"model": "retail-scorecard", "version": "1.0.0", "environment": "staging", "justification": "Refresh."}
    return data | overrides


def create(client, **overrides):
    response = client.post(URL, body(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["code"] == code, problem
    return problem


# --- create, submit, read ---------------------------------------------------------------------


def test_token_creates_and_submits_a_request_as_its_service_account(furniture, token_client):
    client = token_client(["request-deploy"])
    trail = Trail()
    data = create(client)
    assert data["state"] == "pending" and data["final"] is False
    assert data["requester"] == client.account.username
    assert (data["model"], data["version"], data["environment"]) == ("retail-scorecard", "1.0.0", "staging")
    assert data["url"] == f"http://testserver/approvals/requests/{data['id']}/"
    assert data["policy"] == "Staging" and data["submitted_at"] and data["closed_at"] is None
    assert [check["passed"] for check in data["checks"]] == [True, True]
    [step] = data["steps"]
    assert step | {"id": None, "due_at": None} == {
        "id": None, "order": 1, "name": PEER_REVIEW, "state": "open", "quorum": 1, "needs_signature": False,
        "due_at": None, "decisions": [],
    }  # fmt: skip
    assert step["due_at"].endswith("Z")
    events = trail.events()
    assert [e.action for e in events] == ["request.created", "request.submitted", "request.step_opened"]
    assert {(e.actor_kind, e.actor_id) for e in events} == {("token", client.account.pk)}
    assert f"(token {client.token.prefix})" in events[0].actor_label


def test_draft_then_submit(furniture, token_client):
    client = token_client(["request-deploy"])
    draft = create(client, submit=False)
    assert (draft["state"], draft["steps"], draft["policy"]) == ("draft", [], None)
    response = client.post(f"{URL}{draft['id']}/submit/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "pending" and response.json()["steps"][0]["state"] == "open"
    assert_problem(client.post(f"{URL}{draft['id']}/submit/", {}, format="json"), 409, "not_draft")


def test_failing_checks_refuse_the_request_and_keep_nothing(furniture, token_client, cast):
    with transaction.atomic():
        inventory.model_version_create(actor=Actor.of(cast.dana), model=furniture, version="2.0.0")  # no card
    client = token_client(["request-deploy"])
    trail = Trail()
    problem = assert_problem(client.post(URL, body(version="2.0.0"), format="json"), 409, "policy_check_failed")
    assert "Model card present: The version has no model card." in problem["detail"]
    assert trail.events() == [] and not DeploymentRequest.objects.exists()


def test_list_filters_and_ordering(furniture, token_client, session_client, cast):
    ci = token_client(["request-deploy"])
    first = create(ci)
    second = create(ci, version="1.1.0", submit=False)
    dana = session_client(cast.dana)
    mine = create(dana, environment="production")

    def ids(client, query=""):
        response = client.get(URL + query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(dana) == [mine["id"], second["id"], first["id"]]
    assert ids(dana, "?state=draft") == [second["id"]]
    assert ids(dana, "?state=draft&state=pending") == [mine["id"], second["id"], first["id"]]
    assert ids(dana, "?environment=production") == [mine["id"]]
    assert ids(dana, "?model=retail-scorecard&version=1.1.0") == [second["id"]]
    assert ids(dana, "?model=card-fraud-detector") == []
    assert ids(dana, f"?requester={ci.account.username}") == [second["id"], first["id"]]
    assert ids(dana, "?mine=true") == [mine["id"]]
    assert ids(ci, "?mine=true") == [second["id"], first["id"]]
    assert ids(dana, "?search=1.1.0") == [second["id"]]
    assert ids(dana, "?ordering=created_at") == [first["id"], second["id"], mine["id"]]
    assert ids(session_client(cast.ben)) == []  # another team's requests stay invisible
    page = dana.get(URL + "?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert_problem(dana.get(URL + "?state=bogus"), 400, "invalid")


def test_list_reads_a_fixed_number_of_queries(furniture, token_client, session_client, cast):
    ci = token_client(["request-deploy"])
    create(ci)
    rita = session_client(cast.rita)
    rita.post(f"{URL}{create(ci, environment='production')['id']}/decisions/", {"outcome": "reject", "comment": "No."})
    rita.get(URL)  # warm the session and the throttle's cache

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert rita.get(URL).status_code == 200
        return len(queries)

    few = count()
    create(ci, version="1.1.0")
    with transaction.atomic():
        inventory.model_version_create(actor=Actor.of(cast.dana), model=furniture, version="2.0.0",
                                       artifact_digest="b" * 64, model_card=MODEL_CARD)  # fmt: skip
    create(ci, version="2.0.0", submit=False)
    assert count() == few


def test_detail_shows_steps_and_hides_other_teams_requests(furniture, token_client, session_client, cast):
    created = create(token_client(["request-deploy"]), environment="production")
    detail = session_client(cast.rita).get(f"{URL}{created['id']}/")
    assert detail.status_code == 200
    [step] = detail.json()["steps"]
    assert (step["name"], step["needs_signature"], step["state"]) == ("Model risk review", True, "open")
    hidden = session_client(cast.ben).get(f"{URL}{created['id']}/")
    assert hidden.status_code == 404 and hidden["Content-Type"] == "application/problem+json"


# --- decisions --------------------------------------------------------------------------------


def test_approver_approves_an_unsigned_step_through_the_session(furniture, token_client, session_client, cast):
    created = create(token_client(["request-deploy"]))
    trail = Trail()
    response = session_client(cast.rita).post(
        f"{URL}{created['id']}/decisions/", {"outcome": "approve", "comment": "Looks good."}, format="json"
    )
    assert response.status_code == 201, response.json()
    decision, request = response.json()["decision"], response.json()["request"]
    assert (decision["approver"], decision["outcome"], decision["signed"]) == ("rita", "approve", False)
    assert decision["meaning"] == f"Approved as {PEER_REVIEW}" and decision["comment"] == "Looks good."
    assert request["state"] == "approved" and request["final"] is True and request["closed_at"]
    assert request["steps"][0]["state"] == "approved" and request["steps"][0]["decisions"][0]["approver"] == "rita"
    assert trail.actions() == ["decision.recorded", "request.step_approved", "request.approved"]
    assert {e.actor_kind for e in trail.events()} == {"user"}
    again = session_client(cast.rita).post(f"{URL}{created['id']}/decisions/", {"outcome": "approve"}, format="json")
    assert again.status_code == 201 and again.json()["decision"]["id"] == decision["id"]  # a retry: the same one
    assert len(trail.events()) == 3


def test_rejection_needs_a_comment(furniture, token_client, session_client, cast):
    created = create(token_client(["request-deploy"]))
    rita = session_client(cast.rita)
    problem = assert_problem(
        rita.post(f"{URL}{created['id']}/decisions/", {"outcome": "reject"}, format="json"), 400, "invalid"
    )
    assert "comment" in problem["errors"]
    response = rita.post(f"{URL}{created['id']}/decisions/", {"outcome": "reject", "comment": "No."}, format="json")
    assert response.status_code == 201 and response.json()["request"]["state"] == "rejected"


def test_signature_step_is_refused_over_the_api_and_nothing_is_written(furniture, token_client, session_client, cast):
    created = create(token_client(["request-deploy"]), environment="production")
    trail = Trail()
    response = session_client(cast.rita).post(f"{URL}{created['id']}/decisions/", {"outcome": "approve"})
    problem = assert_problem(response, 403, "signature_required")
    assert f"http://testserver/approvals/requests/{created['id']}/" in problem["detail"]
    step_id = created["steps"][0]["id"]
    response = session_client(cast.rita).post(f"{URL}{created['id']}/decisions/", {"outcome": "approve",
                                                                                  "step": step_id})  # fmt: skip
    assert_problem(response, 403, "signature_required")
    assert trail.events() == [] and not Decision.objects.exists()


def test_tokens_cannot_decide(furniture, token_client, cast):
    created = create(token_client(["request-deploy"]))
    trail = Trail()
    for scopes in (["request-deploy"], ["read"], ["report-deployment"], ["register"]):
        response = token_client(scopes).post(f"{URL}{created['id']}/decisions/", {"outcome": "approve"})
        assert_problem(response, 403, "permission_denied")
    assert [e for e in trail.events() if not e.action.startswith(("service_account.", "token."))] == []
    assert not Decision.objects.exists()


def test_requester_cannot_approve_their_own_request(furniture, session_client, cast):
    alice = session_client(cast.alice)  # admin of the team: she may request and approve, never both
    created = create(alice)
    trail = Trail()
    response = alice.post(f"{URL}{created['id']}/decisions/", {"outcome": "approve"})
    assert_problem(response, 403, "self_approval_forbidden")
    assert trail.events() == [] and not Decision.objects.exists()


# --- cancel -----------------------------------------------------------------------------------


def test_requester_cancels_and_no_one_else_can(furniture, token_client, session_client, cast):
    ci = token_client(["request-deploy"])
    created = create(ci)
    assert_problem(session_client(cast.alice).post(f"{URL}{created['id']}/cancel/", {}), 403, "not_requester")
    trail = Trail()
    response = ci.post(f"{URL}{created['id']}/cancel/", {"reason": "Superseded by 1.1.0."})
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled" and response.json()["final"] is True
    [event] = trail.events()
    assert event.action == "request.cancelled" and event.changes["reason"] == [None, "Superseded by 1.1.0."]
    assert_problem(ci.post(f"{URL}{created['id']}/cancel/", {}), 409, "request_closed")


# --- deployment reports -----------------------------------------------------------------------


def approved_request(cast, furniture):
    with transaction.atomic():
        request = services.request_deployment(
            actor=Actor.of(cast.dana), version=furniture.versions.get(version="1.0.0"),
            environment=Environment.objects.get(slug="staging"),
            justification="Refresh.",
        )  # fmt: skip
    services.deployment_request_decide(actor=Actor.of(cast.rita), request=request, outcome="approve")
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    return request


def test_report_deployment_of_an_approved_request(furniture, token_client, cast):
    request = approved_request(cast, furniture)
    ci = token_client(["report-deployment"])
    trail = Trail()
    report = {"target": "k8s/prod-eu", "status": "succeeded", "details": "3 replicas",
              "url": "https://ci.example.com/runs/42"}  # fmt: skip
    response = ci.post(f"{URL}{request.pk}/deployments/", report, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    [event] = trail.events()
    assert data == {"recorded": True, "request": request.pk, **report, "event": event.sequence,
                    "reported_at": data["reported_at"]}  # fmt: skip
    assert (event.action, event.actor_kind, event.target_id) == ("deployment.reported", "token", str(request.pk))
    assert event.target_type == "approvals.deploymentrequest"
    assert (event.team_id, event.model_id, event.version_id, event.environment_id, event.request_id) == (
        cast.team_a.pk, request.version.model_id, request.version_id, request.environment_id, request.pk,
    )  # fmt: skip
    assert event.changes["status"] == [None, "succeeded"] and event.changes["target"] == [None, "k8s/prod-eu"]


def test_contributor_session_reports_and_others_cannot(furniture, session_client, token_client, cast):
    request = approved_request(cast, furniture)
    report = {"target": "batch-scoring", "status": "failed"}
    response = session_client(cast.dana).post(f"{URL}{request.pk}/deployments/", report, format="json")
    assert response.status_code == 201 and response.json()["details"] == "" and response.json()["url"] == ""
    trail = Trail()
    for client in (session_client(cast.rita), token_client(["read"]), token_client(["request-deploy"])):
        assert_problem(client.post(f"{URL}{request.pk}/deployments/", report, format="json"), 403, "permission_denied")
    assert [e for e in trail.events() if e.action == "deployment.reported"] == []


def test_report_on_a_pending_request_is_refused(furniture, token_client):
    created = create(token_client(["request-deploy"]))
    trail = Trail()
    response = token_client(["report-deployment"]).post(
        f"{URL}{created['id']}/deployments/", {"target": "prod", "status": "succeeded"}, format="json"
    )
    problem = assert_problem(response, 409, "not_approved")
    assert "pending approval" in problem["detail"]
    assert not AuditEvent.objects.filter(sequence__gt=trail.start, action="deployment.reported").exists()


@pytest.mark.parametrize(
    "report, field",
    [
        ({"target": "", "status": "succeeded"}, "target"),
        ({"target": "x" * 201, "status": "succeeded"}, "target"),
        ({"target": "prod", "status": "done"}, "status"),
        ({"target": "prod", "status": "failed", "details": "x" * 2001}, "details"),
        ({"target": "prod", "status": "failed", "url": "ftp://ci.example.com/1"}, "url"),
        ({"target": "prod", "status": "failed", "url": "not a url"}, "url"),
        ({"target": "prod", "status": "failed", "replicas": 3}, "replicas"),
    ],
)
def test_bad_reports_are_refused(furniture, token_client, cast, report, field):
    request = approved_request(cast, furniture)
    trail = Trail()
    response = token_client(["report-deployment"]).post(f"{URL}{request.pk}/deployments/", report, format="json")
    assert field in assert_problem(response, 400, "invalid")["errors"]
    assert [e for e in trail.events() if e.action == "deployment.reported"] == []


# --- bad input, scopes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, field",
    [
        (body(priority="high"), "priority"),
        (body(submit="maybe"), "submit"),
        (body(justification=["a", "b"]), "justification"),
        (body(version=7.5), "version"),
        ({k: v for k, v in body().items() if k != "justification"}, "justification"),
        (body(justification="   "), "justification"),
        (body(environment="moon"), "environment"),
        (body(model="no-such-model"), "version"),
        (body(version="9.9.9"), "version"),
    ],
)
def test_bad_input_is_a_400_problem_and_writes_nothing(furniture, token_client, payload, field):
    client = token_client(["request-deploy"])
    trail = Trail()
    problem = assert_problem(client.post(URL, payload, format="json"), 400, "invalid")
    assert field in problem["errors"], problem
    assert trail.events() == [] and not DeploymentRequest.objects.exists()


def test_body_must_be_a_json_object(furniture, token_client):
    client = token_client(["request-deploy"])
    assert_problem(client.post(URL, [body()], format="json"), 400, "invalid")
    assert_problem(client.post(URL, "model=x", content_type="application/x-www-form-urlencoded"), 415,
                   "unsupported_media_type")  # fmt: skip
    assert not DeploymentRequest.objects.exists()


def test_unknown_fields_in_action_bodies_are_refused(furniture, token_client, session_client, cast):
    ci = token_client(["request-deploy"])
    created = create(ci)
    trail = Trail()
    assert "password" in assert_problem(
        session_client(cast.rita).post(f"{URL}{created['id']}/decisions/", {"outcome": "approve", "password": "x"}),
        400, "invalid",
    )["errors"]  # fmt: skip
    cancelled = ci.post(f"{URL}{created['id']}/cancel/", {"force": True})
    assert "force" in assert_problem(cancelled, 400, "invalid")["errors"]
    assert_problem(session_client(cast.rita).post(f"{URL}{created['id']}/decisions/", {"outcome": "maybe"}), 400,
                   "invalid")  # fmt: skip
    assert trail.events() == []


def test_read_only_token_cannot_request(furniture, token_client):
    client = token_client(["read"])
    trail = Trail()
    assert_problem(client.post(URL, body(), format="json"), 403, "permission_denied")
    assert trail.events() == [] and not DeploymentRequest.objects.exists()
    assert client.get(URL).status_code == 200


def test_anonymous_is_refused(furniture, api):
    assert api.get(URL).status_code == 401
    assert api.post(URL, body(), format="json").status_code == 401
