"""What `manage.py load_demo` puts in the portal: the inventory, the approvals, and their audit trail.

The demo is loaded once for this module (outside any test transaction: the loader signs decisions,
which re-authenticates in a transaction of its own) and flushed at the end; each test reads it
inside its own rolled-back transaction.
"""

import re
from collections import Counter
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from apps.accounts.models import Membership, Team, User
from apps.approvals.models import ApprovalPolicy, Decision, DeploymentRequest, RequestState, StepState
from apps.approvals.selectors import waiting_for
from apps.approvals.services.decisions import signature_hash
from apps.approvals.services.requests import governing_policy
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from apps.compliance import sentences
from apps.demo import demo_data as demo
from apps.inventory.models import AIActCategory, Environment, Lifecycle, ModelVersion, RegisteredModel, RiskTier

from .helpers import DEMO_SETTINGS, load_demo, row_counts

CAST = ("admin", "dana", "rita", "nadia", "sam", "bo", "audrey")
SECTIONS = ("Model details", "Intended use", "Training data", "Evaluation", "Ethical considerations", "Caveats")


@pytest.fixture(scope="module")
def demo_once(django_db_setup, django_db_blocker):
    with override_settings(**DEMO_SETTINGS), django_db_blocker.unblock():
        mail.outbox = []
        output = load_demo()
        yield SimpleNamespace(output=output, mails_sent=len(mail.outbox))
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def loaded(demo_once, db, settings):
    for name, value in DEMO_SETTINGS.items():
        setattr(settings, name, value)
    return demo_once


def test_load_demo_builds_an_inventory_across_teams_tiers_and_statuses(loaded):
    assert Team.objects.count() >= 3
    by_hand = RegisteredModel.objects.filter(name__in=[spec.name for spec in demo.MODELS])
    models = list(by_hand.prefetch_related("versions", "owners"))
    assert len(models) == 12
    assert {model.risk_tier for model in models} == set(RiskTier.values)
    assert {model.lifecycle_status for model in models} == set(Lifecycle.values)
    assert {model.eu_ai_act_category for model in models} >= set(AIActCategory.values) - {"unacceptable"}
    assert len({model.team_id for model in models}) >= 3
    today = timezone.now().date()
    assert any(model.validation_overdue(today) for model in models)
    assert any(model.next_validation_due and model.next_validation_due > today for model in models)
    for model in models:
        assert 3 <= len(model.versions.all()) <= 8, model.name
        assert model.validator not in model.owners.all(), model.name


def test_every_version_carries_an_artifact_lineage_and_a_model_card(loaded):
    for spec in demo.MODELS:
        versions = {version.version: version for version in ModelVersion.objects.filter(model__name=spec.name)}
        assert sorted(versions) == sorted(spec.versions)
        for index, name in enumerate(spec.versions):
            version = versions[name]
            assert re.fullmatch(r"[0-9a-f]{64}", version.artifact_digest)
            assert re.fullmatch(r"[0-9a-f]{40}", version.git_commit_sha)
            assert version.artifact_uri.startswith(f"s3://ml-artifacts/{spec.slug}/{name}/")
            assert version.framework in {"sklearn", "xgboost", "lightgbm", "pytorch", "transformers"}
            assert version.metrics and version.parameters and version.training_data
            assert version.parent == (versions[spec.versions[index - 1]] if index else None)
            assert all(f"## {section}" in version.model_card for section in SECTIONS)
            assert "| Metric | Value | Previous |" in version.model_card
    digests = ModelVersion.objects.exclude(source="git").values_list("artifact_digest", flat=True)
    assert len(set(digests)) == len(digests)


def test_the_cast_signs_in_with_the_demo_password(loaded):
    for username in CAST:
        user = authenticate(username=username, password="demo-pass-for-tests")
        assert user is not None, username
        assert user.get_full_name() and user.email == f"{username}@example.com"
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.filter(is_superuser=True).exclude(username="admin").exists()
    teams = Team.objects.count()
    assert Membership.objects.filter(user__username="dana", role="contributor").count() == teams
    assert Membership.objects.filter(user__username="audrey", role="auditor").count() == teams
    for approver in ("rita", "nadia", "sam", "bo"):
        assert Membership.objects.filter(user__username=approver, role="approver").count() == teams
    # audrey reads every team's security events too (sign-ins, failed signatures); nobody else does.
    assert list(User.objects.filter(is_portal_auditor=True).values_list("username", flat=True)) == ["audrey"]


def test_the_output_lists_the_logins_and_what_was_created(loaded):
    output = loaded.output

    for username in CAST:
        assert re.search(rf"^  {username} .* demo-pass-for-tests$", output, re.MULTILINE), username
    assert "Dana Whitfield" in output and "contributor (all teams)" in output
    assert re.search(r"^  audrey .* portal auditor; auditor \(all teams\)", output, re.MULTILINE)
    assert (
        f"Created {Team.objects.count()} teams, {User.objects.filter(is_service_account=False).count()} users, "
        f"12 models, "
        f"{ModelVersion.objects.exclude(source='git').count()} versions, 3 environments, "
        f"{len(demo.POLICIES)} approval policies, "
        f"{len(demo.REQUESTS)} deployment requests, 1 Git repositories, 1 granted credentials, 1 service accounts, "
        f"3 deployment targets and "
        f"{AuditEvent.objects.count()} audit events." in output
    )


def test_a_second_run_writes_no_rows_and_no_audit_events(loaded):
    before, head = row_counts(), ChainHead.objects.get().sequence

    output = load_demo()

    assert row_counts() == before
    assert ChainHead.objects.get().sequence == head
    assert (
        "0 teams, 0 users, 0 models, 0 versions, 0 environments, 0 approval policies, 0 deployment requests, "
        "0 Git repositories, 0 granted credentials, 0 service accounts, 0 deployment targets and 0 audit events "
        "(the demo data was already loaded)." in output
    )


def test_the_audit_chain_verifies_after_loading(loaded):
    result = verify_chain()
    assert result.ok, str(result)
    assert result.count == AuditEvent.objects.count() > 100
    call_command("audit_verify", stdout=StringIO())  # exits 0: raises CommandError otherwise


def test_every_event_of_the_demo_reads_as_its_own_sentence(loaded):
    events = sentences.describe(AuditEvent.objects.order_by("sequence"))
    generic = [(event.sequence, event.action) for event in events if event.sentence == sentences.GENERIC.format(
        actor=event.actor_name, action=event.action, target=event.target_label or "—")]  # fmt: skip
    assert generic == []
    decided = next(event for event in events if event.action == "decision.recorded" and event.actor_label == "rita")
    assert re.fullmatch(r"Rita Okafor (approved|rejected) step \d, .+, with(out)? an e-signature", decided.sentence)


def test_the_audit_trail_names_who_did_what(loaded):
    events = AuditEvent.objects.order_by("sequence")
    dana, kenji = User.objects.get(username="dana"), User.objects.get(username="kenji")

    scorecard = events.get(action="model.registered", target_label="Retail Credit Scorecard")
    assert (scorecard.actor_id, scorecard.actor_kind) == (dana.pk, "user")
    assert events.get(action="model.registered", target_label="Card Transaction Fraud Detector").actor_id == kenji.pk
    expected = {
        f"{spec.name} {version}": demo.version_author(spec, index)
        for spec in demo.MODELS
        for index, version in enumerate(spec.versions)
    }
    by_hand = events.filter(action="version.created").exclude(actor_label="git-sync")
    assert {event.target_label: event.actor_label for event in by_hand} == expected
    assert {event.actor_label for event in events.filter(action="team.created")} == {"admin"}
    users_created = events.filter(action="user.created")
    assert {(event.actor_kind, event.actor_label, event.actor_id) for event in users_created} == {
        ("system", "load_demo", None)
    }
    assert events.filter(action="model.lifecycle_changed", target_label="Collections Prioritisation").count() == 3
    assert events.filter(action="permission.granted", actor_label="lena").count() == 1
    assert {event.actor_label for event in events.filter(action__in=["environment.created", "policy.created"])} == {
        "admin"
    }
    decided = Counter(event.actor_label for event in events.filter(action="decision.recorded"))
    assert decided == Counter(decision.approver for spec in demo.REQUESTS for decision in spec.decisions)
    expired = events.get(action="request.expired")
    assert (expired.actor_kind, expired.actor_label) == ("system", "scheduler")
    reset = events.get(action="request.reset_to_draft")
    assert reset.actor_label == "kenji" and reset.changes["voided_decisions"] == [None, 1]
    contexts = {(event.context["source"], event.context["request_id"]) for event in events}
    assert len(contexts) == 1 and next(iter(contexts))[0] == "command"


def test_three_environments_in_promotion_order_the_later_two_protected(loaded):
    environments = [(env.slug, env.order, env.protected) for env in Environment.objects.order_by("order")]
    assert environments == [("development", 1, False), ("staging", 2, True), ("production", 3, True)]


def test_every_environment_and_risk_tier_has_a_governing_policy(loaded):
    for environment in Environment.objects.all():
        for tier in RiskTier.values:
            policy = governing_policy(environment, tier)
            assert policy is not None, (environment.slug, tier)
            assert policy.name == demo.policy_for(environment.slug, tier).name
    assert ApprovalPolicy.objects.count() == len(demo.POLICIES)
    assert set(ApprovalPolicy.objects.values_list("revision", flat=True)) == {1}
    critical = ApprovalPolicy.objects.get(name="Production — critical")
    assert critical.require_previous_environment and critical.require_current_validation
    assert critical.metric_thresholds == [{"metric": "auc", "op": ">=", "value": 0.8}]
    steps = [(step.name, step.quorum, step.requires_signature) for step in critical.steps.order_by("order")]
    assert steps == [("Model risk review", 2, True), ("Security review", 1, True), ("Business owner sign-off", 1, True)]
    assert list(critical.steps.get(order=3).users.values_list("username", flat=True)) == ["bo"]
    assert AuditEvent.objects.filter(action="policy.created").count() == len(demo.POLICIES)


def test_deployment_requests_in_every_state_as_the_demo_tells_it(loaded):
    requests = DeploymentRequest.objects.select_related("version__model", "environment")
    by_subject = {(r.version.model.name, r.version.version, r.environment.slug): r for r in requests}
    assert len(by_subject) == len(demo.REQUESTS) == requests.count()
    for spec in demo.REQUESTS:
        request = by_subject[(spec.model, spec.version, spec.environment)]
        assert request.state == spec.state, spec
        assert request.requester.username == spec.requester
    states = Counter(request.state for request in requests)
    assert set(states) == set(RequestState.values)
    assert states[RequestState.APPROVED] >= 3 and states[RequestState.PENDING] >= 2
    # Pending: one waits at its first step, one further on.
    open_orders = {request.open_step().order for request in requests if request.state == RequestState.PENDING}
    assert 1 in open_orders and max(open_orders) >= 2
    # The full promotion of a production model: development, staging, production, all approved.
    sme = [
        by_subject[("SME Probability of Default", "2.0.0", env)].state
        for env in ("development", "staging", "production")
    ]
    assert sme == ["approved"] * 3
    rejected = requests.get(state=RequestState.REJECTED)
    assert rejected.decisions.get().comment.startswith("Rejected: the annual validation")
    cancelled = AuditEvent.objects.get(action="request.cancelled")
    assert cancelled.changes["reason"][1].startswith("Wrong audience definition")
    # Draft: the artifact changed under a pending request; its approval is void, the digest is new.
    draft = requests.get(state=RequestState.DRAFT)
    assert draft.decisions.get().voided_at is not None
    assert not draft.steps.exclude(state=StepState.VOID).exists()
    spec = next(spec for spec in demo.REQUESTS if spec.then == "reset")
    assert draft.version.artifact_digest == demo.reexported_digest(spec) != draft.subject["artifact_digest"]
    # Every submitted request passed its checks.
    for request in requests:
        assert request.checks and all(check["passed"] for check in request.checks), request
    assert loaded.mails_sent == 0  # the demo's history sends no notifications


def test_signed_decisions_carry_their_manifestation_bound_to_the_subject(loaded):
    signed = Decision.objects.filter(signed=True).select_related("request", "step", "approver")
    assert {decision.username for decision in signed} >= {"rita", "nadia", "sam", "bo"}
    for decision in signed:
        assert decision.printed_name == decision.approver.get_full_name() == demo.full_name(decision.username)
        assert decision.meaning == f"Approved as {decision.step.name}"
        assert decision.decided_at is not None and decision.step.requires_signature
        assert decision.signature_hash == signature_hash(
            subject_hash=decision.request.subject_hash, request_id=decision.request_id,
            round_=decision.request.round, step_order=decision.step.order, username=decision.username,
            printed_name=decision.printed_name, outcome=decision.outcome, meaning=decision.meaning,
            decided_at=decision.decided_at,
        )  # fmt: skip
    production = DeploymentRequest.objects.get(
        version__model__name="SME Probability of Default", environment__slug="production"
    )
    assert [d.username for d in production.decisions.order_by("decided_at", "pk")] == ["rita", "nadia", "sam", "bo"]
    assert all(d.signed for d in production.decisions.all())
    assert not Decision.objects.filter(request__environment__slug="development", signed=True).exists()
    assert not AuditEvent.objects.filter(action="signature.failed").exists()
    for decision in Decision.objects.select_related("request"):
        assert decision.approver_id != decision.request.requester_id


def test_each_approver_has_a_request_waiting(loaded):
    for username in ("rita", "nadia", "sam", "bo"):
        assert waiting_for(user=User.objects.get(username=username)).exists(), username
    sam_waits = {str(step) for step in waiting_for(user=User.objects.get(username="sam"))}
    assert "2. Security review" in sam_waits
    for requester in ("dana", "kenji", "omar", "tom"):
        assert not waiting_for(user=User.objects.get(username=requester)).exists(), requester


def test_the_demo_repository_is_synced_and_its_versions_come_from_git(loaded):
    from apps.gitsync.models import GitRepository, SyncStatus

    repository = GitRepository.objects.get(name="marketing-models")
    assert repository.team.name == demo.MARKETING
    assert repository.last_sync_status == SyncStatus.SUCCEEDED
    versions = {(v.model.name, v.version): v for v in ModelVersion.objects.filter(source="git").select_related("model")}
    assert set(versions) == {
        ("Next Best Offer", "1.0.0"), ("Next Best Offer", "1.1.0"),
        ("lead-scorer", "v0.9.0"), ("lead-scorer", "v1.0.0"),
    }  # fmt: skip
    assert versions[("lead-scorer", "v1.0.0")].stages == ["prod", "staging"]
    assert versions[("lead-scorer", "v0.9.0")].stages == []
    assert versions[("Next Best Offer", "1.1.0")].git_tag == "v1.1.0"
    assert versions[("Next Best Offer", "1.0.0")].source_metadata["huggingface"]["license"] == "proprietary"
    assert versions[("Next Best Offer", "1.0.0")].source_metadata["mlflow"]["flavors"] == [
        "lightgbm",
        "python_function",
    ]
    assert {e.actor_label for e in AuditEvent.objects.filter(action="version.created", target_id__in=[
        str(v.pk) for v in versions.values()])} == {"git-sync"}  # fmt: skip


def test_credit_risk_has_a_ci_service_account_with_a_scoped_token(loaded):
    from apps.accounts.models import ServiceToken

    token = ServiceToken.objects.select_related("account").get()
    assert token.account.username == "svc-retail-scorecard-ci" and token.account.is_service_account
    assert token.scopes == ["read", "register", "report-deployment", "request-deploy"]
    assert {m.team.name for m in token.account.memberships.select_related("team")} == {demo.CREDIT}
    assert AuditEvent.objects.filter(action="token.created", actor_label="omar").count() == 1


def test_the_demo_targets_show_what_runs_and_the_one_exception(loaded):
    from apps.deployments.models import EXCEPTIONS, DeploymentTarget, DriftState

    assert sorted(DeploymentTarget.objects.values_list("name", "last_status")) == [
        ("gitops-development", "ok"), ("gitops-production", "ok"), ("gitops-staging", "ok"),
    ]  # fmt: skip
    [exception] = DriftState.objects.filter(status__in=EXCEPTIONS).select_related("model", "environment")
    assert (exception.model.name, exception.environment.slug, exception.status) == (
        "AML Transaction Monitoring", "production", "unapproved",
    )  # fmt: skip
    churn = DriftState.objects.get(model__name="Customer Churn Predictor", environment__slug="production")
    assert (churn.status, churn.running_label) == ("in_sync", "1.3.0")


def metrics_of(model: str, version: str) -> dict:
    spec = next(spec for spec in demo.MODELS if spec.name == model)
    return demo.version_metrics(spec, spec.versions.index(version))


def justification(model: str, version: str, environment: str) -> str:
    wanted = (model, version, environment)
    return next(r.justification for r in demo.REQUESTS if (r.model, r.version, r.environment) == wanted)


def test_the_demo_justifications_say_what_the_evidence_shows():
    """An approver compares the justification with the metrics on the request page: they must not disagree."""
    new, old = metrics_of(demo.CHURN, "1.4.0"), metrics_of(demo.CHURN, "1.3.0")
    assert new["lift_at_10pct"] > old["lift_at_10pct"] and new["recall"] > old["recall"]
    assert abs(new["auc"] - old["auc"]) < 0.001
    assert (
        f"lift at 10% up from {old['lift_at_10pct']:.2f} to {new['lift_at_10pct']:.2f} and recall up, at the same AUC "
        f"({new['auc']:.3f} against {old['auc']:.3f})" in justification(demo.CHURN, "1.4.0", "production")
    )
    new, old = metrics_of(demo.CHAT, "2.1.0"), metrics_of(demo.CHAT, "2.0.0")
    assert new["accuracy"] > old["accuracy"] and abs(new["macro_f1"] - old["macro_f1"]) < 0.001
    assert (
        f"accuracy up from {100 * old['accuracy']:.1f}% to {100 * new['accuracy']:.1f}%, macro-F1 level "
        f"({new['macro_f1']:.3f} against {old['macro_f1']:.3f})" in justification(demo.CHAT, "2.1.0", "production")
    )
