"""Approvals test furniture: three environments, the production policy, and helpers that read like the story.

Order matters once: `policy` is saved before the `models` fixture registers Fraud's critical-risk
detector. Fraud has no approvers, so saving the same policy afterwards is refused as unsatisfiable
(tests/approvals/test_services.py proves it). Tests therefore ask for `scorecard` (or `policy`)
before they ask for `models`, never the other way round.
"""

from types import SimpleNamespace

import pytest

from apps.approvals import services
from apps.approvals.models import DeploymentRequest
from apps.audit.actors import Actor
from apps.inventory import services as inventory
from tests.conftest import PASSWORD, Trail

MODEL_CARD = "# Retail Scorecard\n\nIntended use: retail credit decisions.\n"
MODEL_RISK_REVIEW = "Model risk review"
BUSINESS_SIGN_OFF = "Business owner sign-off"


@pytest.fixture
def envs(cast):
    """development (open) → staging (protected) → production (protected), created by the superuser."""
    admin = Actor.of(cast.admin)
    return SimpleNamespace(
        development=inventory.environment_save(actor=admin, name="development", order=10, protected=False),
        staging=inventory.environment_save(actor=admin, name="staging", order=20, protected=True),
        production=inventory.environment_save(actor=admin, name="production", order=30, protected=True),
    )


def production_steps(cast, *, signed=True, quorum=2):
    return [
        {"name": MODEL_RISK_REVIEW, "approver_kind": "role", "role": "approver", "quorum": quorum,
         "requires_signature": signed, "due_hours": 72},
        {"name": BUSINESS_SIGN_OFF, "approver_kind": "users", "users": [cast.bo], "quorum": 1,
         "requires_signature": signed, "due_hours": 48},
    ]  # fmt: skip


@pytest.fixture
def policy(cast, envs):
    """Production, high and critical risk: two signed steps (2 approvers of the model's team, then bo)."""
    return services.policy_save(
        actor=Actor.of(cast.admin), name="Production high risk", environment=envs.production,
        risk_tiers=["high", "critical"], metric_thresholds=[{"metric": "auc", "op": ">=", "value": 0.8}],
        steps=production_steps(cast),
    )  # fmt: skip


@pytest.fixture
def scorecard(policy, models, cast):
    """Retail Scorecard (high risk, team A) with a model card on both versions, so the production checks pass."""
    for version in models.scorecard.versions.all():
        inventory.model_version_update(actor=Actor.of(cast.dana), version=version, model_card=MODEL_CARD)
    return models.scorecard


@pytest.fixture
def v1(scorecard):
    return scorecard.versions.get(version="1.0.0")


@pytest.fixture
def v2(scorecard):
    return scorecard.versions.get(version="1.1.0")


@pytest.fixture
def trail(scorecard):
    """Opened once the cast, environments, policy and models exist, so only the test's own events show."""
    return Trail()


def request_production(cast, version, envs, who=None, justification="Quarterly refresh.") -> DeploymentRequest:
    """dana (or `who`) creates and submits a request to deploy `version` to production."""
    return services.request_deployment(
        actor=Actor.of(who or cast.dana), version=version, environment=envs.production, justification=justification
    )


def decide(user, request, outcome="approve", *, password=PASSWORD, comment="", **extra):
    return services.deployment_request_decide(
        actor=Actor.of(user), request=request, outcome=outcome, comment=comment, password=password, **extra
    )


def reload(request) -> DeploymentRequest:
    return DeploymentRequest.objects.get(pk=request.pk)
