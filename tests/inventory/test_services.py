"""Inventory services: each change writes exactly one audit event, bad input and forbidden actors write nothing."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.accounts import services as account_services
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services
from apps.inventory.models import Lifecycle, ModelVersion, RegisteredModel
from tests.conftest import DIGEST


def register_churn(cast, actor=None, **extra):
    fields = {"team": cast.team_a, "name": "Churn Predictor", "risk_tier": "medium"} | extra
    return services.registered_model_register(actor=Actor.of(actor or cast.dana), **fields)


def with_people(cast, fields):
    """Parameters name people by username; services take users."""
    resolved = dict(fields)
    if "owners" in resolved:
        resolved["owners"] = [getattr(cast, name) for name in resolved["owners"]]
    if "validator" in resolved:
        resolved["validator"] = getattr(cast, resolved["validator"])
    return resolved


def counts():
    return RegisteredModel.objects.count(), ModelVersion.objects.count(), AuditEvent.objects.count()


# --- one change, one event ---------------------------------------------------------------------------------------


def test_registering_a_model_records_model_registered_with_its_metadata(cast, trail):
    model = register_churn(
        cast, owners=[cast.dana], validator=cast.sam, tags=["Retention", "churn"], intended_use="Keep customers."
    )

    [event] = trail.events()
    assert event.action == "model.registered"
    assert (event.actor_id, event.actor_label, event.actor_kind) == (cast.dana.pk, "dana", "user")
    assert (event.target_type, event.target_id, event.target_label) == (
        "inventory.registeredmodel",
        str(model.pk),
        "Churn Predictor",
    )
    assert (event.team_id, event.model_id) == (cast.team_a.pk, model.pk)
    assert event.changes == {
        "name": [None, "Churn Predictor"],
        "team": [None, "Credit Risk"],
        "risk_tier": [None, "medium"],
        "eu_ai_act_category": [None, "minimal"],
        "intended_use": [None, "Keep customers."],
        "lifecycle_status": [None, "development"],
        "owners": [None, ["dana"]],
        "tags": [None, ["churn", "retention"]],
        "validator": [None, "sam"],
    }
    assert model.slug == "churn-predictor"
    assert sorted(model.tags.values_list("name", flat=True)) == ["churn", "retention"]


def test_updating_a_model_records_model_updated_with_old_and_new_values(cast, models, trail):
    services.registered_model_update(
        actor=Actor.of(cast.alice),
        model=models.scorecard,
        risk_tier="critical",
        description="Scores retail applicants.",
        owners=[cast.dana, cast.alice],
        tags=["credit", "retail"],
    )

    [event] = trail.events()
    assert event.action == "model.updated"
    assert (event.actor_label, event.target_id) == ("alice", str(models.scorecard.pk))
    assert event.changes == {
        "risk_tier": ["high", "critical"],
        "description": ["", "Scores retail applicants."],
        "owners": [["dana"], ["alice", "dana"]],
        "tags": [["credit"], ["credit", "retail"]],
    }
    models.scorecard.refresh_from_db()
    assert models.scorecard.risk_tier == "critical"
    assert sorted(models.scorecard.tags.values_list("name", flat=True)) == ["credit", "retail"]


def test_an_update_that_changes_nothing_writes_no_event(cast, models, trail):
    before = RegisteredModel.objects.get(pk=models.scorecard.pk).updated_at

    services.registered_model_update(
        actor=Actor.of(cast.dana),
        model=models.scorecard,
        name="Retail Scorecard",
        risk_tier="high",
        owners=[cast.dana],
        validator=cast.rita,
        tags=["credit"],
    )

    assert trail.actions() == []
    assert RegisteredModel.objects.get(pk=models.scorecard.pk).updated_at == before


def test_changing_the_lifecycle_records_the_transition_and_the_reason(cast, models, trail):
    services.registered_model_set_lifecycle(
        actor=Actor.of(cast.dana), model=models.scorecard, status="validation", reason="  Ready for review.  "
    )

    [event] = trail.events()
    assert event.action == "model.lifecycle_changed"
    assert event.actor_label == "dana"
    assert event.changes == {"lifecycle_status": ["development", "validation"], "reason": [None, "Ready for review."]}
    models.scorecard.refresh_from_db()
    assert models.scorecard.lifecycle_status == Lifecycle.VALIDATION


def test_adding_a_version_records_version_created_with_its_artifact(cast, models, trail):
    version = services.model_version_create(
        actor=Actor.of(cast.dana),
        model=models.scorecard,
        version="2.0.0",
        artifact_digest=DIGEST,
        git_commit_sha="b" * 40,
        metrics={"auc": 0.84},
        framework="xgboost",
    )

    [event] = trail.events()
    assert event.action == "version.created"
    assert (event.actor_label, event.target_type, event.target_id, event.target_label) == (
        "dana",
        "inventory.modelversion",
        str(version.pk),
        "Retail Scorecard 2.0.0",
    )
    assert (event.team_id, event.model_id, event.version_id) == (cast.team_a.pk, models.scorecard.pk, version.pk)
    assert event.changes == {
        "version": [None, "2.0.0"],
        "git_commit_sha": [None, "b" * 40],
        "artifact_digest": [None, DIGEST],
        "framework": [None, "xgboost"],
        "metrics": [None, {"auc": 0.84}],
        "source": [None, "manual"],
    }


def test_editing_a_version_records_version_updated_with_the_diff(cast, models, trail):
    v100 = models.scorecard.versions.get(version="1.0.0")
    v110 = models.scorecard.versions.get(version="1.1.0")

    services.model_version_update(actor=Actor.of(cast.dana), version=v110, metrics={"auc": 0.83}, parent=v100)

    [event] = trail.events()
    assert event.action == "version.updated"
    assert (event.actor_label, event.target_id) == ("dana", str(v110.pk))
    assert event.changes == {"metrics": [{"auc": 0.81}, {"auc": 0.83}], "parent": [None, "Retail Scorecard 1.0.0"]}
    v110.refresh_from_db()
    assert (v110.metrics, v110.parent_id) == ({"auc": 0.83}, v100.pk)


def test_a_version_edit_that_changes_nothing_writes_no_event(cast, models, trail):
    v100 = models.scorecard.versions.get(version="1.0.0")

    services.model_version_update(
        actor=Actor.of(cast.dana), version=v100, metrics={"auc": 0.81}, artifact_digest="sha256:" + DIGEST.upper()
    )

    assert trail.actions() == []


@pytest.mark.parametrize("digest", ["sha256:" + "AB" * 32, "AB" * 32, "  sha256:" + "ab" * 32 + " "])
def test_a_digest_is_stored_as_bare_lowercase_hex(cast, models, digest):
    version = services.model_version_create(
        actor=Actor.of(cast.dana), model=models.scorecard, version="2.0.0", artifact_digest=digest
    )

    version.refresh_from_db()
    assert version.artifact_digest == "ab" * 32


# --- a service that fails after writing leaves nothing behind ------------------------------------------------------


def _register(cast, models):
    register_churn(cast)


def _update(cast, models):
    services.registered_model_update(actor=Actor.of(cast.dana), model=models.scorecard, risk_tier="low")


def _lifecycle(cast, models):
    services.registered_model_set_lifecycle(
        actor=Actor.of(cast.dana), model=models.scorecard, status="validation", reason="Ready."
    )


def _add_version(cast, models):
    services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="9.9.9")


def _add_versions_in_bulk(cast, models):
    entries = [{"version": "9.9.9"}, {"version": "9.9.10", "artifact_digest": DIGEST}]
    services.model_versions_create_bulk(actor=Actor.of(cast.dana), model=models.scorecard, versions=entries)


def _edit_version(cast, models):
    services.model_version_update(
        actor=Actor.of(cast.dana), version=models.scorecard.versions.get(version="1.0.0"), framework="sklearn"
    )


@pytest.mark.parametrize("change", [_register, _update, _lifecycle, _add_version, _add_versions_in_bulk, _edit_version])
def test_a_service_that_fails_after_recording_leaves_neither_change_nor_event(
    transactional_db, cast, models, monkeypatch, change
):
    real_record, real_record_many = services.record, services.record_many

    def record_then_fail(**kwargs):
        real_record(**kwargs)
        raise RuntimeError("failure after the audit event was written")

    def record_many_then_fail(entries):
        real_record_many(entries)
        raise RuntimeError("failure after the audit event was written")

    monkeypatch.setattr(services, "record", record_then_fail)
    monkeypatch.setattr(services, "record_many", record_many_then_fail)
    before = counts()
    snapshot = RegisteredModel.objects.values().get(pk=models.scorecard.pk)
    versions = list(ModelVersion.objects.order_by("pk").values())

    assert not transaction.get_connection().in_atomic_block  # the service must open its own transaction
    with pytest.raises(RuntimeError, match="failure after the audit event"):
        change(cast, models)

    assert counts() == before
    assert RegisteredModel.objects.values().get(pk=models.scorecard.pk) == snapshot
    assert list(ModelVersion.objects.order_by("pk").values()) == versions


# --- bad input: a clear message on the field, nothing written ------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"risk_tier": "extreme"}, "risk_tier", "Value 'extreme' is not a valid choice."),
        ({"owners": ["dana"], "validator": "dana"}, "validator", "The validator must be independent"),
        ({"name": "x" * 121}, "name", "Ensure this value has at most 120 characters (it has 121)."),
        ({"description": "x" * 5001}, "description", "Ensure this value has at most 5000 characters (it has 5001)."),
        ({"name": "Retail Scorecard"}, "name", "already exists"),
        ({"name": "retail  SCORECARD"}, "name", "/models/retail-scorecard/"),
        ({"name": "!!!"}, "name", "Enter a name with at least one letter or digit."),
        ({"tags": ["ok", "Not OK!"]}, "tags", "Tag 'not ok!' is not valid"),
        (
            {"last_validated_on": date(2026, 5, 1), "next_validation_due": date(2026, 1, 1)},
            "next_validation_due",
            "The next validation cannot be due before the last validation.",
        ),
    ],
)
def test_registering_with_bad_input_names_the_field_and_writes_nothing(cast, models, trail, extra, field, message):
    before = counts()

    with pytest.raises(ValidationError) as caught:
        register_churn(cast, **with_people(cast, extra))

    assert field in caught.value.message_dict
    assert any(message in text for text in caught.value.message_dict[field]), caught.value.message_dict
    assert counts() == before
    assert trail.actions() == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"artifact_digest": "xyz"}, "artifact_digest", "Enter a SHA-256 digest: 64 hexadecimal characters"),
        ({"artifact_digest": "a" * 63}, "artifact_digest", "Enter a SHA-256 digest: 64 hexadecimal characters"),
        ({"artifact_digest": "g" * 64}, "artifact_digest", "Enter a SHA-256 digest: 64 hexadecimal characters"),
        ({"version": "1.0.0"}, "version", "Retail Scorecard already has a version 1.0.0."),
        ({"version": "../etc"}, "version", "A version starts with a letter or digit"),
        ({"version": "  "}, "version", "This field cannot be blank."),
        ({"git_commit_sha": "abc123"}, "git_commit_sha", "Enter a full Git commit SHA (40 or 64 hexadecimal"),
        ({"git_commit_sha": "z" * 40}, "git_commit_sha", "Enter a full Git commit SHA (40 or 64 hexadecimal"),
        ({"metrics": {"auc": "high"}}, "metrics", "Metric 'auc' must be a number, not 'high'."),
        ({"metrics": {"auc": True}}, "metrics", "Metric 'auc' must be a number"),
        ({"metrics": [0.9]}, "metrics", "Metrics must be a JSON object"),
        ({"model_card": "x" * 100_001}, "model_card", "at most 100000 characters (it has 100001)"),
        ({"training_data": [""]}, "training_data", "Enter a list of references"),
    ],
)
def test_adding_a_version_with_bad_input_names_the_field_and_writes_nothing(
    cast, models, trail, fields, field, message
):
    before = counts()
    fields = {"version": "2.0.0"} | fields

    with pytest.raises(ValidationError) as caught:
        services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, **fields)

    assert field in caught.value.message_dict
    assert any(message in text for text in caught.value.message_dict[field]), caught.value.message_dict
    assert counts() == before
    assert trail.actions() == []


def test_editing_a_version_with_a_bad_digest_keeps_the_old_one(cast, models, trail):
    v100 = models.scorecard.versions.get(version="1.0.0")

    with pytest.raises(ValidationError) as caught:
        services.model_version_update(actor=Actor.of(cast.dana), version=v100, artifact_digest="not-a-digest")

    assert "artifact_digest" in caught.value.message_dict
    v100.refresh_from_db()
    assert v100.artifact_digest == DIGEST
    assert trail.actions() == []


def test_a_version_cannot_be_derived_from_itself(cast, models, trail):
    v100 = models.scorecard.versions.get(version="1.0.0")

    with pytest.raises(ValidationError) as caught:
        services.model_version_update(actor=Actor.of(cast.dana), version=v100, parent=v100)

    assert caught.value.message_dict["parent"] == [
        "A version cannot be derived from itself or from one of its own descendants."
    ]
    assert trail.actions() == []


def test_a_lineage_cycle_is_refused(cast, models, trail):
    v100 = models.scorecard.versions.get(version="1.0.0")
    v110 = models.scorecard.versions.get(version="1.1.0")
    services.model_version_update(actor=Actor.of(cast.dana), version=v110, parent=v100)
    before = trail.actions()

    with pytest.raises(ValidationError) as caught:
        services.model_version_update(actor=Actor.of(cast.dana), version=v100, parent=v110)

    assert "its own descendants" in caught.value.message_dict["parent"][0]
    assert trail.actions() == before
    v100.refresh_from_db()
    assert v100.parent_id is None


def test_a_parent_the_actor_cannot_see_is_refused(cast, models, trail):
    hidden = models.detector.versions.get(version="3.0.0")  # team B's model: dana cannot see it

    with pytest.raises(ValidationError) as caught:
        services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="9.0.0", parent=hidden)

    assert caught.value.message_dict["parent"] == ["Choose a parent version you can see."]
    assert not models.scorecard.versions.filter(version="9.0.0").exists()
    assert trail.actions() == []


def test_who_may_change_a_model_but_not_see_it_cannot_name_its_versions_as_parents(cast, models, trail):
    # ben (team B) holds only guardian's change permission on team A's Retail Scorecard, not the view permission.
    account_services.object_permission_grant(
        actor=Actor.of(cast.alice), user=cast.ben, action="change", obj=models.scorecard
    )
    parent, before = models.scorecard.versions.get(version="1.1.0"), trail.actions()

    with pytest.raises(ValidationError) as caught:
        services.model_version_create(actor=Actor.of(cast.ben), model=models.scorecard, version="9.0.0", parent=parent)

    assert caught.value.message_dict == {"parent": ["Choose a parent version you can see."]}
    assert trail.actions() == before and not models.scorecard.versions.filter(version="9.0.0").exists()
    services.model_version_create(actor=Actor.of(cast.ben), model=models.scorecard, version="9.0.0")  # he may add one
    assert trail.actions() == [*before, "version.created"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"validator": "dana"}, "validator", "The validator must be independent"),
        ({"name": "Card Fraud Detector"}, "name", "already exists"),
        ({"name": "x" * 121}, "name", "at most 120 characters"),
        ({"risk_tier": "extreme"}, "risk_tier", "Value 'extreme' is not a valid choice."),
        ({"tags": ["Bad Tag"]}, "tags", "Tag 'bad tag' is not valid"),
    ],
)
def test_editing_a_model_with_bad_input_names_the_field_and_changes_nothing(
    cast, models, trail, fields, field, message
):
    snapshot = RegisteredModel.objects.values().get(pk=models.scorecard.pk)

    with pytest.raises(ValidationError) as caught:
        services.registered_model_update(actor=Actor.of(cast.dana), model=models.scorecard, **with_people(cast, fields))

    assert any(message in text for text in caught.value.message_dict[field]), caught.value.message_dict
    assert RegisteredModel.objects.values().get(pk=models.scorecard.pk) == snapshot
    assert list(models.scorecard.tags.values_list("name", flat=True)) == ["credit"]
    assert trail.actions() == []


@pytest.mark.parametrize("fields", [{"lifecycle_status": "production"}, {"team": "fraud"}, {"slug": "renamed"}])
def test_an_edit_cannot_move_teams_or_skip_the_lifecycle_rules(cast, models, trail, fields):
    fields = {key: cast.team_b if value == "fraud" else value for key, value in fields.items()}
    snapshot = RegisteredModel.objects.values().get(pk=models.scorecard.pk)

    with pytest.raises(ValidationError, match="Unknown model fields"):
        services.registered_model_update(actor=Actor.of(cast.dana), model=models.scorecard, **fields)

    assert RegisteredModel.objects.values().get(pk=models.scorecard.pk) == snapshot
    assert trail.actions() == []


def _move(cast, model, *statuses):
    for status in statuses:
        services.registered_model_set_lifecycle(actor=Actor.of(cast.dana), model=model, status=status, reason="Next.")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (["retired"], "production", "A model in retired can move to nothing, not production."),
        (["validation", "production"], "development", "A model in production can move to retired, validation, not"),
        ([], "production", "A model in development can move to retired, validation, not production."),
        ([], "development", "The model is already in development."),
        ([], "archived", "Unknown lifecycle status 'archived'"),
    ],
)
def test_a_forbidden_lifecycle_transition_is_refused_with_the_allowed_moves(cast, models, path, status, message):
    _move(cast, models.scorecard, *path)
    trail_start = AuditEvent.objects.count()
    current = RegisteredModel.objects.get(pk=models.scorecard.pk).lifecycle_status

    with pytest.raises(ValidationError) as caught:
        services.registered_model_set_lifecycle(
            actor=Actor.of(cast.dana), model=models.scorecard, status=status, reason="Because."
        )

    assert message in caught.value.message_dict["status"][0]
    assert RegisteredModel.objects.get(pk=models.scorecard.pk).lifecycle_status == current
    assert AuditEvent.objects.count() == trail_start


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_lifecycle_change_without_a_reason_is_refused(cast, models, trail, reason):
    with pytest.raises(ValidationError) as caught:
        services.registered_model_set_lifecycle(
            actor=Actor.of(cast.dana), model=models.scorecard, status="validation", reason=reason
        )

    assert caught.value.message_dict["reason"] == ["Say why the lifecycle status changes; the reason goes on record."]
    assert RegisteredModel.objects.get(pk=models.scorecard.pk).lifecycle_status == Lifecycle.DEVELOPMENT
    assert trail.actions() == []


# --- permissions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vera", "rita", "audrey", "ben"])
def test_only_contributors_and_admins_of_the_team_can_register(cast, models, trail, name):
    before = counts()

    with pytest.raises(PermissionDenied, match="You may not register models in Credit Risk"):
        register_churn(cast, actor=getattr(cast, name))

    assert counts() == before
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["dana", "alice", "admin"])
def test_contributors_admins_and_superusers_can_register(cast, models, name):
    model = register_churn(cast, actor=getattr(cast, name))

    assert model.created_by == getattr(cast, name)


@pytest.mark.parametrize("name", ["vera", "rita", "audrey", "ben"])
def test_people_without_change_rights_cannot_edit_a_model_or_its_versions(cast, models, trail, name):
    actor = Actor.of(getattr(cast, name))
    snapshot = RegisteredModel.objects.values().get(pk=models.scorecard.pk)
    v100 = models.scorecard.versions.get(version="1.0.0")
    before = counts()

    with pytest.raises(PermissionDenied, match="You may not edit Retail Scorecard"):
        services.registered_model_update(actor=actor, model=models.scorecard, risk_tier="low")
    with pytest.raises(PermissionDenied, match="You may not add versions to Retail Scorecard"):
        services.model_version_create(actor=actor, model=models.scorecard, version="2.0.0")
    with pytest.raises(PermissionDenied, match="You may not edit versions of Retail Scorecard"):
        services.model_version_update(actor=actor, version=v100, framework="sklearn")
    with pytest.raises(PermissionDenied, match="You may not change the lifecycle of Retail Scorecard"):
        services.registered_model_set_lifecycle(actor=actor, model=models.scorecard, status="retired", reason="x")

    assert RegisteredModel.objects.values().get(pk=models.scorecard.pk) == snapshot
    assert ModelVersion.objects.get(pk=v100.pk).framework == ""
    assert counts() == before
    assert trail.actions() == []


def test_a_team_admin_cannot_edit_another_teams_model(cast, models, trail):
    with pytest.raises(PermissionDenied):
        services.registered_model_update(actor=Actor.of(cast.ben), model=models.scorecard, risk_tier="low")
    with pytest.raises(PermissionDenied):
        services.registered_model_update(actor=Actor.of(cast.alice), model=models.detector, risk_tier="low")

    assert RegisteredModel.objects.get(pk=models.scorecard.pk).risk_tier == "high"
    assert RegisteredModel.objects.get(pk=models.detector.pk).risk_tier == "critical"
    assert trail.actions() == []


def test_an_object_change_grant_lets_a_viewer_edit_that_model_only(cast, models, trail):
    other = register_churn(cast)
    account_services.object_permission_grant(
        actor=Actor.of(cast.alice), user=cast.vera, action="change", obj=models.scorecard
    )

    services.registered_model_update(actor=Actor.of(cast.vera), model=models.scorecard, risk_tier="critical")
    services.model_version_create(actor=Actor.of(cast.vera), model=models.scorecard, version="2.0.0")
    with pytest.raises(PermissionDenied):
        services.registered_model_update(actor=Actor.of(cast.vera), model=other, risk_tier="low")
    with pytest.raises(PermissionDenied):
        services.model_version_create(actor=Actor.of(cast.vera), model=other, version="1.0.0")

    assert trail.actions() == ["model.registered", "permission.granted", "model.updated", "version.created"]
    assert [event.actor_label for event in trail.events()[2:]] == ["vera", "vera"]
    assert RegisteredModel.objects.get(pk=other.pk).risk_tier == "medium"
