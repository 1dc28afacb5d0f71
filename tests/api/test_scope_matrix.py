"""The scope matrix: every state-changing API operation against every kind of caller, judged at the moment it acts.

The operations are read from the OpenAPI schema when the tests are collected, so a POST, PUT, PATCH or DELETE
added under /api/v1/ without a row in ENDPOINTS fails here: nobody ships an endpoint without saying who may call it.
Each operation is one test; every caller acts on the same world inside a savepoint that is rolled back afterwards:

    read, register, request-deploy, report-deployment
                    a token of a Credit Risk service account holding that one scope
    revoked token   a token holding every scope, whose account's contributor role was revoked (it stays an auditor,
                    so it still sees everything it saw)
    other team      a Fraud token holding every scope
    person          the person the operation is for, signed in: dana, rita for decisions, audrey for exports
    revoked person  that person after their role was revoked and viewer given instead (they still see it all)

An allowed cell answers 2xx and records its audit event; every other answers 403, or 404 where the object is
invisible to the caller, and leaves every governed table exactly as it was: no audit event, no changed row.
"""

from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Membership, ServiceToken, TokenScope
from apps.approvals import services as approvals
from apps.approvals.models import DeploymentRequest
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gitsync.models import GitRepository
from apps.inventory import services as inventory

SCOPES = tuple(TokenScope.values)  # read, register, request-deploy, report-deployment
CALLERS = (*SCOPES, "revoked token", "other team", "person", "revoked person")
MODEL_CARD = "# Retail Scorecard\n\nIntended use: retail credit decisions.\n"
# Every table a refused call could touch; tokens are left out: using one stamps its last_used_at.
GOVERNED_APPS = ("accounts", "audit", "inventory", "approvals", "gitsync", "hooks", "guardian")


def write_operations() -> list[str]:
    """Every state-changing operation under /api/v1/, as "METHOD /path/{param}/", from the live schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in ("post", "put", "patch", "delete") and path.startswith("/api/v1/")
    )


OPERATIONS = write_operations()


# --- what each operation needs and who may call it ---------------------------------------------------------------


@dataclass
class Endpoint:
    allowed: frozenset[str]  # the callers that succeed
    call: object  # call(world, caller) -> (url, body): prepares what the call acts on, as the caller
    person: str = "dana"  # who "person" is for this operation
    role: str = "contributor"  # the role "revoked person" loses
    other_team: int = 404  # the answer to the Fraud token: its objects are invisible to it
    notes: str = field(default="")


def _draft(world, caller) -> DeploymentRequest:
    """A draft of the caller's own (Fraud cannot request Credit Risk's models: it meets dana's)."""
    requester = caller.user if caller.name != "other team" else world.cast.dana
    return approvals.deployment_request_create(
        actor=Actor.of(requester), version=world.v2, environment=world.staging, justification="Matrix draft."
    )


def _requests(pk=None, action="") -> str:
    return f"/api/v1/deployment-requests/{pk}/{action}" if pk else "/api/v1/deployment-requests/"


REGISTERING = frozenset({"register", "person"})
REQUESTING = frozenset({"request-deploy", "person"})

ENDPOINTS: dict[str, Endpoint] = {
    "POST /api/v1/models/": Endpoint(
        REGISTERING,
        lambda w, c: ("/api/v1/models/", {"team": "credit-risk", "name": "Matrix Model", "risk_tier": "low"}),
        other_team=403,  # the team in the body is visible; registering there is what is refused
    ),
    "PATCH /api/v1/models/{slug}/": Endpoint(
        REGISTERING, lambda w, c: ("/api/v1/models/retail-scorecard/", {"description": "Changed by the matrix."})
    ),
    "POST /api/v1/models/{model_slug}/versions/": Endpoint(
        REGISTERING, lambda w, c: ("/api/v1/models/retail-scorecard/versions/", {"version": "9.9.9"})
    ),
    "POST /api/v1/models/{model_slug}/versions/bulk/": Endpoint(
        REGISTERING,
        lambda w, c: (
            "/api/v1/models/retail-scorecard/versions/bulk/",
            {"versions": [{"version": "9.9.9"}, {"version": "9.9.10", "parent": "1.1.0"}]},
        ),
    ),
    "PATCH /api/v1/models/{model_slug}/versions/{version}/": Endpoint(
        REGISTERING, lambda w, c: ("/api/v1/models/retail-scorecard/versions/1.1.0/", {"framework": "matrix"})
    ),
    "POST /api/v1/deployment-requests/": Endpoint(
        REQUESTING,
        lambda w, c: (
            _requests(),
            {"model": "retail-scorecard", "version": "1.1.0", "environment": "staging", "justification": "Matrix."},
        ),
        other_team=400,  # a version it cannot see is named in the body: a 400 on that field, as for no such version
    ),
    "POST /api/v1/deployment-requests/{id}/submit/": Endpoint(
        REQUESTING, lambda w, c: (_requests(_draft(w, c).pk, "submit/"), {})
    ),
    "POST /api/v1/deployment-requests/{id}/cancel/": Endpoint(
        REQUESTING, lambda w, c: (_requests(_draft(w, c).pk, "cancel/"), {"reason": "Matrix."})
    ),
    "POST /api/v1/deployment-requests/{id}/decisions/": Endpoint(
        frozenset({"person"}),  # no token scope carries approve: deciding is a person's act
        lambda w, c: (_requests(w.pending.pk, "decisions/"), {"outcome": "approve"}),
        person="rita",
        role="approver",
        other_team=403,  # refused as a token before the request is looked up
    ),
    "POST /api/v1/deployment-requests/{id}/deployments/": Endpoint(
        frozenset({"report-deployment", "person"}),
        lambda w, c: (_requests(w.approved.pk, "deployments/"), {"target": "eu-cluster", "status": "succeeded"}),
    ),
    "POST /api/v1/repositories/{id}/sync/": Endpoint(
        REGISTERING, lambda w, c: (f"/api/v1/repositories/{w.repository.pk}/sync/", {})
    ),
    "POST /api/v1/audit/exports/": Endpoint(
        frozenset({"person"}),  # no token scope carries export: an export is a person's act
        lambda w, c: ("/api/v1/audit/exports/", {"format": "csv"}),
        person="audrey",
        role="auditor",
        other_team=403,
    ),
}


# --- the world and the callers -------------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    client: APIClient
    user: object  # the person, or the token's service account
    revoke: object = None  # revoke(): takes the role away, just before the call


@pytest.fixture
def world(cast, models):
    """Staging governed by one unsigned step; a request approved there and one pending; a Credit Risk repository."""
    admin = Actor.of(cast.admin)
    with transaction.atomic():
        staging = inventory.environment_save(actor=admin, name="staging", order=20, protected=True)
        approvals.policy_save(
            actor=admin, name="Staging", environment=staging, risk_tiers=["high"],
            steps=[{"name": "Peer review", "approver_kind": "role", "role": "approver", "quorum": 1,
                    "requires_signature": False, "due_hours": 24}],
        )  # fmt: skip
        for version in models.scorecard.versions.all():
            inventory.model_version_update(actor=Actor.of(cast.dana), version=version, model_card=MODEL_CARD)
        v1, v2 = (models.scorecard.versions.get(version=label) for label in ("1.0.0", "1.1.0"))
        approved = approvals.request_deployment(
            actor=Actor.of(cast.dana), version=v1, environment=staging, justification="Approved before."
        )
        approvals.deployment_request_decide(actor=Actor.of(cast.sam), request=approved, outcome="approve")
        pending = approvals.request_deployment(
            actor=Actor.of(cast.dana), version=v1, environment=staging, justification="Waiting for rita."
        )
    repository = GitRepository.objects.create(
        name="credit-models", url="https://github.com/acme/credit-models.git", team=cast.team_a, created_by=cast.alice
    )

    class World:
        pass

    result = World()
    result.__dict__.update(cast=cast, staging=staging, v1=v1, v2=v2, approved=approved, pending=pending,
                           repository=repository)  # fmt: skip
    assert DeploymentRequest.objects.get(pk=approved.pk).state == "approved"
    return result


def _revoke(cast, user, role, then_viewer: bool):
    def revoke():
        membership = Membership.objects.get(user=user, team=cast.team_a, role=role)
        accounts.membership_revoke(actor=Actor.of(cast.alice), membership=membership)
        if then_viewer:
            accounts.membership_grant(actor=Actor.of(cast.alice), team=cast.team_a, user=user, role="viewer")

    return revoke


def callers(cast, token_client, endpoint: Endpoint) -> list[Caller]:
    made = [Caller(scope, client, client.account) for scope in SCOPES for client in [token_client([scope])]]
    revoked = token_client(SCOPES)
    made.append(Caller("revoked token", revoked, revoked.account, _revoke(cast, revoked.account, "contributor", False)))
    fraud = token_client(SCOPES, team="b")
    made.append(Caller("other team", fraud, fraud.account))
    person = getattr(cast, endpoint.person)
    for name, revoke in (("person", None), ("revoked person", _revoke(cast, person, endpoint.role, True))):
        client = APIClient()
        client.force_login(person)
        made.append(Caller(name, client, person, revoke))
    assert [caller.name for caller in made] == list(CALLERS)
    return made


def snapshot() -> dict:
    """Every row of every governed table (through tables included), to prove a refused call changed none."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in GOVERNED_APPS and model is not ServiceToken:
            tables[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return tables


def act(world, endpoint: Endpoint, operation: str, caller: Caller) -> tuple[int, list[str], list[str]]:
    """(status, tables changed, audit actions written) of one call; everything it wrote is rolled back."""
    method = operation.split()[0].lower()
    with transaction.atomic():
        url, body = endpoint.call(world, caller)
        if caller.revoke:
            caller.revoke()
        before, last = snapshot(), AuditEvent.objects.order_by("-sequence").first().sequence
        response = getattr(caller.client, method)(url, body, format="json")
        after = snapshot()
        changed = sorted(label for label in after if after[label] != before[label])
        written = AuditEvent.objects.filter(sequence__gt=last).order_by("sequence").values_list("action", flat=True)
        written = list(written)
        transaction.set_rollback(True)
    return response.status_code, changed, written


# --- the tests -------------------------------------------------------------------------------------------------------


def test_every_expectation_names_an_operation_the_api_has():
    assert sorted(set(ENDPOINTS) - set(OPERATIONS)) == []


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_scope_matrix(cast, world, token_client, operation):
    endpoint = ENDPOINTS.get(operation)
    if endpoint is None:
        pytest.fail(f"{operation} has no row in ENDPOINTS: say which token scopes and roles may call it")
    wrong = []
    for caller in callers(cast, token_client, endpoint):
        status, changed, written = act(world, endpoint, operation, caller)
        if caller.name in endpoint.allowed:
            ok = 200 <= status < 300 and written
            expected = "2xx with its audit event"
        else:
            refusal = endpoint.other_team if caller.name == "other team" else 403
            ok = status == refusal and not changed and not written
            expected = f"{refusal}, nothing written"
        if not ok:
            wrong.append(f"{caller.name}: got {status}, changed {changed}, wrote {written}; expected {expected}")
    assert wrong == [], f"{operation}:\n  " + "\n  ".join(wrong)
