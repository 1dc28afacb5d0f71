"""A real GitOps repository observed by the worker: what runs, since which commit, and drift from what was approved."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.actors import Actor
from apps.deployments import services
from apps.deployments.models import DeploymentTarget, DriftState, Running, TargetStatus
from apps.deployments.observing import observe_target
from apps.inventory import services as inventory
from tests.conftest import Trail

from .conftest import DIGEST_A, DIGEST_B, add_target, approve, manifest


def status_of(model, environment):
    state = DriftState.objects.filter(model=model, environment=environment).first()
    return state.status if state else None


def test_an_unapproved_version_in_the_manifests_is_flagged_once_and_approving_it_resolves_it(
    cast, models, envs, gitops, django_capture_on_commit_callbacks
):
    scorecard = models.scorecard
    approve(cast, scorecard.versions.get(version="1.0.0"), envs.production)
    gitops.commit("Deploy 1.0.0", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    target = add_target(cast, envs, gitops)
    observe_target(target.pk)
    assert status_of(scorecard, envs.production) == "in_sync"

    gitops.commit("Try 1.1.0", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.1.0", DIGEST_A)})
    trail, mail.outbox = Trail(), []
    with django_capture_on_commit_callbacks(execute=True):
        observe_target(target.pk)

    assert status_of(scorecard, envs.production) == "unapproved"
    [event] = trail.events()
    assert event.action == "deployment.drift_detected"
    assert event.changes["status"] == ["in_sync", "unapproved"]
    assert event.changes["observed"] == [None, ["1.1.0 on prod-gitops"]]
    assert (event.model_id, event.environment_id, event.team_id) == (scorecard.pk, envs.production.pk, cast.team_a.pk)
    [message] = mail.outbox
    assert "Retail Scorecard in production: Unapproved" in message.subject
    assert set(message.to) == {"dana@example.com", "alice@example.com"}  # the owner and the team's admin

    trail = Trail()
    observe_target(target.pk)  # the same state again: nothing to record
    assert trail.events() == []

    with django_capture_on_commit_callbacks(execute=True):  # the approval re-judges drift once it commits
        approve(cast, scorecard.versions.get(version="1.1.0"), envs.production)
    assert status_of(scorecard, envs.production) == "in_sync"
    assert "deployment.drift_resolved" in trail.actions()


def test_the_interval_keeps_the_commit_that_introduced_the_running_version(cast, models, envs, gitops):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    gitops.commit("Other model", {"prod/other.yaml": manifest("card-fraud-detector", "3.0.0", name="fraud")})
    introducing = gitops.commit("Deploy", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    gitops.commit("Unrelated file", {"prod/README.md": "hello\n"})
    target = add_target(cast, envs, gitops)

    observe_target(target.pk)

    row = Running.objects.get(target=target, until__isnull=True, model=models.scorecard)
    assert (row.version.version, row.digest) == ("1.0.0", DIGEST_A)
    assert row.commit_sha == introducing
    assert row.commit_author == "Dana Dev <dana@example.org>"
    assert row.location == "prod/scorecard.yaml#InferenceService/scorer"


def test_a_different_artifact_than_approved_is_a_digest_mismatch(cast, models, envs, gitops):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    gitops.commit("Deploy", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_B)})
    target = add_target(cast, envs, gitops)

    observe_target(target.pk)

    state = DriftState.objects.get(model=models.scorecard)
    assert state.status == "digest_mismatch"
    assert state.evidence["observed_digest"] == DIGEST_B and state.evidence["approved_digest"] == DIGEST_A


def test_removing_the_manifest_makes_the_rollout_pending_then_overdue(cast, models, envs, gitops):
    from datetime import timedelta

    from django.utils import timezone

    from apps.deployments.observing import refresh_due

    request = approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    gitops.commit("Deploy", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    target = add_target(cast, envs, gitops)
    observe_target(target.pk)
    gitops.commit("Remove", {"prod/scorecard.yaml": None})
    observe_target(target.pk)
    assert status_of(models.scorecard, envs.production) == "rollout_pending"
    assert Running.objects.get(target=target).until is not None  # the interval closed, not deleted

    refresh_due(now=request.closed_at + timedelta(minutes=31))
    assert status_of(models.scorecard, envs.production) == "rollout_overdue"
    assert timezone.now() < request.closed_at + timedelta(minutes=31)


def test_an_unregistered_model_running_is_kept_and_a_retired_one_is_flagged(cast, models, envs, gitops):
    gitops.commit("Deploy", {
        "prod/mystery.yaml": manifest("mystery-model", "0.1"),
        "prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A, name="scorecard"),
    })  # fmt: skip
    target = add_target(cast, envs, gitops)
    observe_target(target.pk)

    mystery = Running.objects.get(model_key="mystery-model")
    assert mystery.model is None and mystery.version_label == "0.1"
    assert status_of(models.scorecard, envs.production) == "unapproved"

    for status in ("validation", "production", "retired"):
        with transaction.atomic():
            inventory.registered_model_set_lifecycle(
                actor=Actor.of(cast.dana), model=models.scorecard, status=status, reason="Lifecycle."
            )
    gitops.commit("Touch", {"prod/mystery.yaml": manifest("mystery-model", "0.2")})
    observe_target(target.pk)
    assert status_of(models.scorecard, envs.production) == "unapproved"  # untouched by this observation …
    from apps.deployments.observing import drift_refresh

    with transaction.atomic():
        drift_refresh(environment_ids={envs.production.pk})  # … until its drift is judged again
    assert status_of(models.scorecard, envs.production) == "retired_running"


def test_an_unreachable_repository_makes_the_target_unknown_with_the_reason(cast, models, envs, gitops, tmp_path):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    gitops.commit("Deploy", {"prod/scorecard.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    target = add_target(cast, envs, gitops)
    observe_target(target.pk)
    DeploymentTarget.objects.filter(pk=target.pk).update(config={**target.config, "url": str(tmp_path / "gone")})

    observe_target(target.pk)

    target.refresh_from_db()
    assert target.last_status == TargetStatus.UNKNOWN
    assert target.last_error.startswith("could not read the repository: git fetch from")
    assert status_of(models.scorecard, envs.production) == "unknown"
    assert Running.objects.get(target=target).until is None  # last known state kept, not guessed away


def test_malformed_and_hostile_manifests_are_a_readable_error(cast, envs, gitops):
    target = None
    for content, message in [
        ("a: [1, 2\n", "prod/bad.yaml:2: not valid YAML"),
        ("a: &x [1]\nb: *x\n", "prod/bad.yaml: YAML aliases are not allowed"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "prod/bad.yaml: nested more than 64 levels deep"),
    ]:
        gitops.commit("Bad", {"prod/bad.yaml": content})
        target = target or add_target(cast, envs, gitops)
        observe_target(target.pk)
        target.refresh_from_db()
        assert target.last_status == TargetStatus.UNKNOWN
        assert target.last_error.startswith(message), target.last_error


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "kubernetes"}, "kind", "Unknown kind 'kubernetes'"),
        ({"config": {"paths": ["x"]}}, "config", "url is required."),
        ({"config": {"url": "https://github.com/acme/deploy.git"}}, "config", "paths needs at least one entry."),
        ({"config": {"url": "https://github.com/acme/deploy.git", "paths": ["x"], "colour": 1}}, "config",
         "Unknown configuration fields: colour"),
        ({"config": {"url": "ftp://host/x.git", "paths": ["x"]}}, "config", "unsupported URL scheme"),
        ({"config": {"url": "https://u:p@github.com/x.git", "paths": ["x"]}}, "config", "Leave user names"),
        ({"interval_seconds": 5}, "interval_seconds", "Observe every 30 to 86400 seconds."),
        ({"credential": "FRAUD"}, "credential", "is not granted to Credit Risk"),
        ({"name": ""}, "name", "This field cannot be blank."),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused_on_save_and_writes_nothing(cast, granted, envs, fields, field, message):
    trail = Trail()
    values = {"name": "prod", "environment": envs.production, "team": cast.team_a, "kind": "gitops",
              "config": {"url": "https://github.com/acme/deploy.git", "paths": ["prod/*.yaml"]}}  # fmt: skip
    values |= {key: granted.fraud if value == "FRAUD" else value for key, value in fields.items()}
    with pytest.raises(ValidationError) as exc, transaction.atomic():
        services.target_save(actor=Actor.of(cast.admin), **values)
    assert any(message in text for text in exc.value.message_dict[field]), exc.value.message_dict
    assert not DeploymentTarget.objects.exists() and trail.actions() == []


def test_only_portal_admins_define_targets(cast, envs, gitops):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied), transaction.atomic():
        services.target_save(actor=Actor.of(cast.alice), name="x", environment=envs.production, team=cast.team_a,
                             kind="gitops", config={"url": gitops.url, "paths": ["*"]})  # fmt: skip
    assert not DeploymentTarget.objects.exists()


def test_observing_writes_a_fixed_number_of_queries_whatever_the_number_of_models(
    cast, models, envs, gitops, django_assert_max_num_queries
):
    from apps.inventory.models import RegisteredModel

    files = {}
    for i in range(12):
        with transaction.atomic():
            model = inventory.registered_model_register(actor=Actor.of(cast.dana), team=cast.team_a,
                                                        name=f"Model {i}", risk_tier="low")  # fmt: skip
            inventory.model_version_create(actor=Actor.of(cast.dana), model=model, version="1.0.0")
        files[f"prod/m{i}.yaml"] = manifest(f"model-{i}", "1.0.0", name=f"m{i}")
    assert RegisteredModel.objects.count() >= 12
    gitops.commit("Deploy many", files)
    target = add_target(cast, envs, gitops)
    observe_target(target.pk)

    with django_assert_max_num_queries(12):  # nothing changed: read, compare, touch
        observe_target(target.pk)
