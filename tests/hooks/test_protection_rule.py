"""GitHub's deployment protection rule: a waiting run becomes a deployment request, and its outcome the run's answer.

GitHub's API is a real HTTP server on 127.0.0.1 (GitHub itself cannot be reached from here): the portal POSTs its
answers to it exactly as it would to api.github.com, and the tests read what arrived.
"""

import json
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from apps.accounts import tokens
from apps.accounts.models import User
from apps.approvals import services as approvals
from apps.approvals.models import DeploymentRequest, RequestState
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.hooks import protection, tasks
from apps.hooks import services as hooks
from apps.hooks.models import GateState, GitHubDeploymentGate, Outcome, WebhookDelivery
from apps.inventory import services as inventory
from tests.approvals.conftest import MODEL_CARD, decide, production_steps
from tests.concurrency import race
from tests.conftest import DIGEST, Trail, needs_postgres

from .conftest import repository_payload, sign

# Signing a decision refuses to run inside a transaction (a failed signature must stay on record), and the answer
# goes out after the commit: each service call here commits for real, as in production.
pytestmark = pytest.mark.usefixtures("transactional_db")

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
TOKEN = "ghs_installation-token-for-tests"
PORTAL = "https://govportal.example.com"
RUN = 4242


# --- a stand-in for GitHub's REST API ------------------------------------------------------------------------------


class GitHubAPI:
    """What arrived (method, path, headers, JSON body) and what to answer next (a status, default 204)."""

    def __init__(self):
        self.calls, self.statuses, self.url = [], [], ""

    def answers(self) -> list[dict]:
        return [call.body for call in self.calls]


@pytest.fixture
def github_api(settings):
    api = GitHubAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            api.calls.append(SimpleNamespace(path=self.path, headers=dict(self.headers), body=json.loads(body)))
            status = api.statuses.pop(0) if api.statuses else 204
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", f"{api.url}/elsewhere")
            payload = b"" if status == 204 else json.dumps({"message": f"status {status}"}).encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.GITHUB_API_URL = api.url
    settings.GITHUB_APP_INSTALLATION_TOKEN = TOKEN
    settings.GITHUB_API_TIMEOUT_SECONDS = 5
    settings.PORTAL_BASE_URL = PORTAL
    yield api
    server.shutdown()
    server.server_close()


# --- the portal's side: environments, policy, a model synced from acme/churn, the team's gate account -------------


@pytest.fixture
def envs(cast):
    admin = Actor.of(cast.admin)
    return SimpleNamespace(
        development=inventory.environment_save(actor=admin, name="development", order=10, protected=False),
        production=inventory.environment_save(actor=admin, name="production", order=30, protected=True),
    )


@pytest.fixture
def policy(cast, envs):
    """Production, high risk: rita and sam approve (signed), then bo signs off."""
    return approvals.policy_save(
        actor=Actor.of(cast.admin), name="Production high risk", environment=envs.production, risk_tiers=["high"],
        steps=production_steps(cast),
    )  # fmt: skip


@pytest.fixture
def churn(cast, repos, policy):
    """Churn Predictor 2.0.0 at commit SHA, synced from acme/churn (team A), ready for production's checks."""
    model = inventory.registered_model_register(
        actor=Actor.of(cast.dana), team=cast.team_a, name="Churn Predictor", risk_tier="high",
        source_repository_url=repos.churn.url,
    )  # fmt: skip
    return inventory.model_version_create(
        actor=Actor.of(cast.dana), model=model, version="2.0.0", git_commit_sha=SHA, artifact_digest=DIGEST,
        metrics={"auc": 0.9}, model_card=MODEL_CARD,
    )  # fmt: skip


@pytest.fixture
def gate_account(cast):
    """Credit Risk's `github-deployments` service account, added by its admin.

    The portal makes it on first use where accounts lets its system principal do so (see the two account tests).
    """
    return tokens.service_account_create(
        actor=Actor.of(cast.alice), team=cast.team_a, name="github-deployments-credit-risk"
    )


def protection_payload(api, *, run_id=RUN, environment="production", sha=SHA, full_name="acme/churn", **fields):
    """A deployment_protection_rule delivery as a GitHub App receives it (trimmed, plus fields that do not matter)."""
    payload = {
        "action": "requested",
        "environment": environment,
        "event": "push",
        "sha": sha,
        "ref": "refs/heads/main",
        "deployment_callback_url": f"{api.url}/repos/{full_name}/actions/runs/{run_id}/deployment_protection_rule",
        "deployment": {"id": 1234567, "sha": sha, "ref": "main", "task": "deploy", "environment": environment},
        "pull_requests": [],
        "repository": repository_payload(full_name),
        "organization": {"login": "acme", "id": 42},
        "installation": {"id": 5555, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNTU1NQ=="},
        "sender": {"login": "dana", "id": 7},
    }
    return payload | fields


@pytest.fixture
def ask(github, github_api, repos):
    """GitHub asks, as acme/churn's App delivery: `ask(run_id=..., environment=..., delivery=...)`."""

    def deliver(*, delivery=None, **fields):
        payload = protection_payload(github_api, **fields)
        return github(payload, secret=repos.churn_secret, event="deployment_protection_rule", delivery=delivery)

    return deliver


def approve_all(cast, request):
    for user in (cast.rita, cast.sam, cast.bo):
        decide(user, request)


def the_request() -> DeploymentRequest:
    return DeploymentRequest.objects.get()


# --- GitHub asks ----------------------------------------------------------------------------------------------------


def test_a_waiting_run_opens_and_submits_a_request_as_the_team_account(ask, churn, gate_account, github_api, envs):
    trail = Trail()

    response = ask()

    request = the_request()
    assert response.status_code == 202
    detail = f"GitHub Actions run {RUN} waits on request #{request.pk}."
    assert response.json() == {"status": "gated", "detail": detail, "repositories": ["Churn"]}
    assert (request.version, request.environment, request.requester, request.state) == (
        churn, envs.production, gate_account, RequestState.PENDING,
    )  # fmt: skip
    assert (
        request.justification == f"GitHub Actions run {RUN} asks to deploy {SHA[:10]} to production (refs/heads/main)."
    )
    gate = GitHubDeploymentGate.objects.get()
    assert (gate.run_id, gate.environment, gate.sha, gate.request, gate.state, gate.installation_id) == (
        RUN, "production", SHA, request, GateState.PENDING, 5555,
    )  # fmt: skip
    assert WebhookDelivery.objects.get().outcome == Outcome.GATED
    assert trail.actions() == [Action.REQUEST_CREATED, Action.REQUEST_SUBMITTED, Action.REQUEST_STEP_OPENED]
    assert github_api.calls == []  # nothing to say until the request is decided


def test_the_same_delivery_again_opens_no_second_request(ask, churn, gate_account):
    ask(delivery="d6f1b0a0-0001")

    again = ask(delivery="d6f1b0a0-0001")

    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert DeploymentRequest.objects.count() == 1
    assert GitHubDeploymentGate.objects.count() == 1


def test_a_new_delivery_for_the_same_run_joins_its_request(ask, churn, gate_account):
    first = ask()
    request = the_request()

    again = ask()  # GitHub redelivered it under a new delivery id

    assert first.status_code == again.status_code == 202
    assert again.json()["detail"] == f"GitHub Actions run {RUN} already waits on request #{request.pk}."
    assert DeploymentRequest.objects.count() == 1
    assert GitHubDeploymentGate.objects.count() == 1
    assert WebhookDelivery.objects.count() == 2


def test_another_run_of_the_same_commit_joins_the_open_request_and_both_are_answered(
    ask, churn, gate_account, cast, github_api
):
    ask(run_id=RUN)
    ask(run_id=RUN + 1)
    request = the_request()
    assert list(request.github_gates.values_list("run_id", flat=True).order_by("run_id")) == [RUN, RUN + 1]

    approve_all(cast, request)

    paths = sorted(call.path for call in github_api.calls)
    assert paths == [f"/repos/acme/churn/actions/runs/{run}/deployment_protection_rule" for run in (RUN, RUN + 1)]
    assert {answer["state"] for answer in github_api.answers()} == {"approved"}


def test_github_environment_names_match_portal_environments_whatever_their_case(ask, churn, gate_account, envs):
    response = ask(environment="Production")

    assert response.status_code == 202
    assert the_request().environment == envs.production


def test_other_actions_are_ignored(ask, churn, gate_account):
    response = ask(action="created")

    assert response.json()["status"] == "ignored"
    assert not GitHubDeploymentGate.objects.exists()


# --- the answer -----------------------------------------------------------------------------------------------------


def test_an_approved_request_answers_approved_with_a_link_to_it(ask, churn, gate_account, cast, github_api):
    ask()
    request = the_request()
    trail = Trail()

    approve_all(cast, request)

    [call] = github_api.calls
    assert call.path == f"/repos/acme/churn/actions/runs/{RUN}/deployment_protection_rule"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Accept"] == "application/vnd.github+json"
    url = f"{PORTAL}/approvals/requests/{request.pk}/"
    assert call.body == {
        "environment_name": "production", "state": "approved",
        "comment": f"GovPortal request #{request.pk} was approved: {url}",
    }  # fmt: skip
    gate = GitHubDeploymentGate.objects.get()
    assert (gate.state, gate.answered_state, gate.attempts, gate.last_error) == (GateState.ANSWERED, "approved", 1, "")
    [event] = trail.events(action=Action.GITHUB_DEPLOYMENT_ANSWERED)
    assert (event.actor_label, event.target_id, event.request_id, event.team_id) == (
        "github-deployments", str(gate.pk), request.pk, cast.team_a.pk,
    )  # fmt: skip
    assert event.changes["state"] == [None, "approved"]
    assert event.changes["request"] == [None, request.pk]


def test_a_rejected_request_answers_rejected(ask, churn, gate_account, cast, github_api):
    ask()
    request = the_request()

    decide(user=cast.rita, request=request, outcome="reject", comment="AUC dropped on the holdout.")

    [answer] = github_api.answers()
    assert answer["state"] == "rejected"
    assert (
        answer["comment"] == f"GovPortal request #{request.pk} was rejected: {PORTAL}/approvals/requests/{request.pk}/"
    )


def test_an_expired_request_answers_rejected(ask, churn, gate_account, github_api):
    ask()
    request = the_request()

    expired = approvals.deployment_request_expire_due(now=timezone.now() + timedelta(days=30))

    assert expired == 1
    [answer] = github_api.answers()
    assert answer["state"] == "rejected"
    assert f"request #{request.pk} expired before it was decided, so this deployment is rejected" in answer["comment"]


def test_a_run_to_an_environment_no_policy_governs_is_approved_at_once(ask, churn, gate_account, github_api):
    response = ask(environment="development")

    assert response.status_code == 202
    assert the_request().state == RequestState.APPROVED
    assert [answer["state"] for answer in github_api.answers()] == ["approved"]


def test_a_changed_artifact_withdraws_the_request_and_rejects_the_run(ask, churn, gate_account, cast, github_api):
    ask()
    request = the_request()

    inventory.model_version_update(actor=Actor.of(cast.dana), version=churn, artifact_digest="b" * 64)

    assert the_request().state == RequestState.CANCELLED
    [answer] = github_api.answers()
    assert answer["state"] == "rejected"
    assert answer["comment"].startswith(f"GovPortal request #{request.pk} was withdrawn")


# --- fail closed ----------------------------------------------------------------------------------------------------


def test_a_commit_with_no_model_version_is_rejected_saying_why(ask, churn, gate_account, github_api):
    trail = Trail()
    other = "0" * 40

    response = ask(sha=other)

    reason = (
        "No model version synced from Churn (https://github.com/acme/churn.git) is at commit 0000000000, so "
        "GovPortal has nothing to approve. Register the version (or let Git sync find it), then re-run the job."
    )
    assert response.status_code == 202
    assert response.json()["status"] == "rejected"
    assert response.json()["detail"] == reason
    assert github_api.answers() == [{"environment_name": "production", "state": "rejected", "comment": reason}]
    assert not DeploymentRequest.objects.exists()
    assert GitHubDeploymentGate.objects.get().state == GateState.ANSWERED
    assert trail.actions() == [Action.GITHUB_DEPLOYMENT_ANSWERED]


def test_a_commit_that_is_several_versions_is_rejected(ask, churn, gate_account, cast, repos, github_api):
    other = inventory.registered_model_register(
        actor=Actor.of(cast.dana), team=cast.team_a, name="Churn Explainer", risk_tier="high",
        source_repository_url=repos.churn.url,
    )  # fmt: skip
    inventory.model_version_create(actor=Actor.of(cast.dana), model=other, version="0.3.0", git_commit_sha=SHA)

    ask()

    [answer] = github_api.answers()
    assert answer["state"] == "rejected"
    assert "is several model versions in GovPortal (Churn Explainer 0.3.0, Churn Predictor 2.0.0)" in answer["comment"]
    assert not DeploymentRequest.objects.exists()


def test_an_unknown_environment_is_rejected_naming_the_known_ones(ask, churn, gate_account, github_api):
    ask(environment="prod-eu")

    [answer] = github_api.answers()
    assert answer == {
        "environment_name": "prod-eu", "state": "rejected",
        "comment": "GovPortal has no environment named 'prod-eu' (it has: development, production), so it cannot "
        "approve this deployment.",
    }  # fmt: skip


def test_a_request_the_policy_refuses_rejects_the_run_with_the_checks(ask, churn, gate_account, cast, github_api):
    inventory.model_version_update(actor=Actor.of(cast.dana), version=churn, model_card="")

    ask()

    [answer] = github_api.answers()
    assert answer["state"] == "rejected"
    assert answer["comment"].startswith(
        "GovPortal could not open a deployment request for Churn Predictor 2.0.0 to production: Checks failed:"
    )
    assert not DeploymentRequest.objects.exists()


def test_a_deactivated_gate_account_rejects_every_run(ask, churn, gate_account, github_api):
    User.objects.filter(pk=gate_account.pk).update(is_active=False)

    ask()

    [answer] = github_api.answers()
    assert answer["comment"] == (
        "svc-github-deployments-credit-risk is deactivated, so Credit Risk takes no deployment requests from GitHub "
        "Actions."
    )


def test_the_gate_account_is_made_on_first_use(ask, churn, cast):
    ask()

    assert the_request().requester.username == "svc-github-deployments-credit-risk"
    assert the_request().requester.is_service_account


def test_a_person_holding_the_accounts_username_makes_the_team_reject_runs(ask, churn, cast, github_api):
    User.objects.create_user("svc-github-deployments-credit-risk", password="x")

    ask()

    [answer] = github_api.answers()
    assert answer["comment"] == (
        "The username svc-github-deployments-credit-risk is taken by an account that is not Credit Risk's service "
        "account, so Credit Risk cannot take deployment requests from GitHub Actions; rename that account."
    )
    assert not DeploymentRequest.objects.exists()


# --- the callback URL -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/repos/acme/churn/actions/runs/4242/deployment_protection_rule",
        "{api}/repos/acme/fraud/actions/runs/4242/deployment_protection_rule",  # another repository's run
        "{api}/repos/acme/churn/actions/runs/4242/deployment_protection_rule?redirect=https://evil.example.com",
        "{api}/repos/acme/churn/actions/runs/4242/approve",
        "{api}@evil.example.com/repos/acme/churn/actions/runs/4242/deployment_protection_rule",
        42,
    ],
)
def test_a_callback_url_outside_githubs_api_is_refused_and_never_called(ask, churn, gate_account, github_api, url):
    url = url.format(api=github_api.url) if isinstance(url, str) else url

    response = ask(deployment_callback_url=url)

    assert response.status_code == 202
    assert response.json()["status"] == "rejected"
    assert response.json()["detail"].startswith("The deployment_callback_url ")
    assert response.json()["detail"].endswith("; it is not called.")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.detail) == (Outcome.REJECTED, response.json()["detail"])
    assert github_api.calls == []
    assert not GitHubDeploymentGate.objects.exists()
    assert not DeploymentRequest.objects.exists()


# --- GitHub's side of the call --------------------------------------------------------------------------------------


def test_a_github_error_is_retried_and_the_run_answered_once(ask, churn, gate_account, cast, github_api):
    ask()
    request = the_request()
    github_api.statuses = [500]
    trail = Trail()

    approve_all(cast, request)  # in-process, the first attempt hits the 500 and leaves the gate pending

    gate = GitHubDeploymentGate.objects.get()
    assert (gate.state, gate.attempts, gate.last_error) == (GateState.PENDING, 1, "GitHub answered 500: status 500")
    assert tasks.github_gate_answer_task.delay(gate.pk).get() == "answered"
    assert tasks.github_gate_answer_task.delay(gate.pk).get() == "done"  # idempotent: nothing is sent again

    assert [answer["state"] for answer in github_api.answers()] == ["approved", "approved"]  # the 500, then the 204
    gate.refresh_from_db()
    assert (gate.state, gate.attempts, gate.last_error) == (GateState.ANSWERED, 2, "")
    assert trail.actions(action=Action.GITHUB_DEPLOYMENT_ANSWERED) == [Action.GITHUB_DEPLOYMENT_ANSWERED]


def test_on_a_worker_a_github_error_schedules_a_retry_with_backoff(ask, churn, gate_account, github_api, monkeypatch):
    ask(sha="0" * 40)  # no version: answered at once, and GitHub fails it
    gate = GitHubDeploymentGate.objects.get()
    GitHubDeploymentGate.objects.filter(pk=gate.pk).update(state=GateState.PENDING, answered_state="")
    github_api.statuses = [502]
    scheduled = []
    task = tasks.github_gate_answer_task

    def retry(*, exc, countdown):  # the broker's side of a retry; the call to GitHub is real
        scheduled.append((str(exc), countdown))
        return Retry(exc=exc, when=countdown)

    monkeypatch.setattr(task, "retry", retry)
    task.push_request(retries=2, is_eager=False)
    try:
        with pytest.raises(Retry):
            task.run(gate.pk)
    finally:
        task.pop_request()

    [(error, countdown)] = scheduled
    assert error == "GitHub answered 502: status 502"
    assert 0 <= countdown <= 120  # 30 s doubled per retry, full jitter
    assert GitHubDeploymentGate.objects.get().state == GateState.PENDING


def test_the_sweep_answers_what_github_could_not_take_earlier(ask, churn, gate_account, cast, github_api):
    ask()
    github_api.statuses = [503]
    approve_all(cast, the_request())
    assert tasks.github_gates_answer_due_task.delay().get() == 0  # just tried: the sweep leaves it alone a while
    GitHubDeploymentGate.objects.update(last_attempt_at=timezone.now() - timedelta(minutes=11))

    assert tasks.github_gates_answer_due_task.delay().get() == 1

    assert GitHubDeploymentGate.objects.get().state == GateState.ANSWERED
    assert len(github_api.calls) == 2


def test_an_answer_github_refuses_for_good_marks_the_gate_failed(ask, churn, gate_account, cast, github_api):
    ask()
    github_api.statuses = [422]
    trail = Trail()

    approve_all(cast, the_request())

    gate = GitHubDeploymentGate.objects.get()
    assert (gate.state, gate.last_error) == (GateState.FAILED, "GitHub answered 422: status 422")
    assert tasks.github_gate_answer_task.delay(gate.pk).get() == "done"
    assert len(github_api.calls) == 1
    assert Action.GITHUB_DEPLOYMENT_ANSWERED not in trail.actions()


def test_a_redirect_is_not_followed(ask, churn, gate_account, cast, github_api):
    ask()
    github_api.statuses = [302]

    approve_all(cast, the_request())

    assert [call.path for call in github_api.calls] == [
        f"/repos/acme/churn/actions/runs/{RUN}/deployment_protection_rule"
    ]
    assert GitHubDeploymentGate.objects.get().state == GateState.FAILED


def test_without_an_installation_token_github_is_not_called_and_the_gate_waits(
    ask, churn, gate_account, cast, github_api, settings
):
    settings.GITHUB_APP_INSTALLATION_TOKEN = ""
    ask()

    approve_all(cast, the_request())

    gate = GitHubDeploymentGate.objects.get()
    assert (gate.state, gate.last_error) == (
        GateState.PENDING, "GITHUB_APP_INSTALLATION_TOKEN is not set, so GitHub cannot be answered.",
    )  # fmt: skip
    assert github_api.calls == []


def test_a_gate_is_answered_by_one_worker_at_a_time(ask, churn, gate_account, github_api):
    ask(sha="0" * 40)
    gate = GitHubDeploymentGate.objects.get()
    GitHubDeploymentGate.objects.filter(pk=gate.pk).update(
        state=GateState.PENDING, claimed_until=timezone.now() + timedelta(minutes=1)
    )

    assert protection.github_gate_answer(gate_id=gate.pk) == "busy"
    assert len(github_api.calls) == 1  # only the first answer


def test_the_delivery_id_is_required(github, repos, github_api, churn):
    payload = protection_payload(github_api)
    response = github(payload, secret=repos.churn_secret, event="deployment_protection_rule", delivery="")

    assert response.status_code == 400
    assert not GitHubDeploymentGate.objects.exists()


def test_an_unsigned_protection_rule_delivery_is_refused(github, repos, github_api, churn, gate_account):
    payload = protection_payload(github_api)
    response = github(payload, event="deployment_protection_rule", delivery=str(uuid.uuid4()))

    assert response.status_code == 401
    assert not DeploymentRequest.objects.exists()
    assert github_api.calls == []


# --- at once, on PostgreSQL -----------------------------------------------------------------------------------------


def _delivery(api, secret, **fields):
    body = json.dumps(protection_payload(api, **fields)).encode()
    return lambda: hooks.github_delivery_receive(
        event="deployment_protection_rule", delivery_id=str(uuid.uuid4()), body=body, signature=sign(body, secret)
    )


def test_redeliveries_of_one_run_at_once_open_one_request(repos, churn, gate_account, github_api):
    needs_postgres()

    results = race([_delivery(github_api, repos.churn_secret)] * 6)

    assert sorted(result.outcome for result in results) == [Outcome.GATED] * 6, results
    assert GitHubDeploymentGate.objects.count() == 1
    assert DeploymentRequest.objects.count() == 1


def test_runs_of_one_commit_at_once_share_one_request(repos, churn, gate_account, github_api):
    needs_postgres()

    results = race([_delivery(github_api, repos.churn_secret, run_id=RUN + n) for n in range(6)])

    assert sorted(result.outcome for result in results) == [Outcome.GATED] * 6, results
    assert GitHubDeploymentGate.objects.count() == 6
    assert DeploymentRequest.objects.count() == 1
