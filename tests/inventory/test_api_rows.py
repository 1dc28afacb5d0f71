"""The API's model rows, written out for speed (RegisteredModelOutput.to_representation), say what DRF's generic
serialisation of the same fields says: every field, every value, for models with and without optional data."""

import datetime

from rest_framework import serializers

from apps.audit.actors import Actor
from apps.inventory import selectors, services
from apps.inventory.api.serializers import ModelVersionOutput, RegisteredModelOutput


def test_a_model_row_is_what_the_fields_would_serialise(cast, models):
    services.registered_model_register(actor=Actor.of(cast.dana), team=cast.team_a, name="Bare", risk_tier="low")
    services.registered_model_update(
        actor=Actor.of(cast.dana), model=models.scorecard, last_validated_on=datetime.date(2026, 1, 15),
        next_validation_due=datetime.date(2027, 1, 15), source_repository_url="https://git.example/x.git",
        limitations="Not for mortgages.",
    )  # fmt: skip
    rows = selectors.with_owner_names(selectors.registered_models_visible(user=cast.dana).order_by("name"))
    serializer = RegisteredModelOutput(rows, many=True)

    fast = serializer.data
    generic = [serializers.ModelSerializer.to_representation(serializer.child, row) for row in rows]

    assert [row["slug"] for row in fast] == ["bare", "retail-scorecard"]
    assert fast == generic
    assert list(fast[0]) == list(generic[0]) == RegisteredModelOutput.Meta.fields
    assert fast[0]["validator"] is None and fast[0]["latest_version"] is None and fast[0]["tags"] == []
    scorecard = fast[1]
    assert (
        scorecard["latest_version"] == "1.1.0" and scorecard["tags"] == ["credit"] and scorecard["owners"] == ["dana"]
    )
    assert scorecard["validator"] == "rita" and scorecard["next_validation_due"] == "2027-01-15"
    assert scorecard["created_at"].endswith("Z") and scorecard["url"].endswith("/models/retail-scorecard/")


def test_a_version_row_is_what_the_fields_would_serialise(cast, models):
    scorecard = models.scorecard
    parent = scorecard.versions.get(version="1.0.0")
    services.model_version_create(
        actor=Actor.of(cast.dana), model=scorecard, version="2.0.0+build.7", parent=parent,
        parameters={"depth": 6}, training_data=["s3://data/2026-01"], model_card="# Card",
        git_commit_sha="b" * 40, framework="xgboost", artifact_uri="s3://models/2.0.0",
    )  # fmt: skip
    rows = list(selectors.model_version_list(model=scorecard))
    serializer = ModelVersionOutput(rows, many=True)

    fast = serializer.data
    generic = [serializers.ModelSerializer.to_representation(serializer.child, row) for row in rows]

    assert [row["version"] for row in fast] == ["2.0.0+build.7", "1.1.0", "1.0.0"]
    assert fast == generic
    assert list(fast[0]) == list(generic[0]) == ModelVersionOutput.Meta.fields
    newest, oldest = fast[0], fast[-1]
    assert newest["parent"] == "1.0.0" and newest["parameters"] == {"depth": 6} and newest["created_by"] == "dana"
    assert newest["url"].endswith("/models/retail-scorecard/versions/2.0.0+build.7/")
    assert oldest["parent"] is None and oldest["git_committed_at"] is None and oldest["created_at"].endswith("Z")
    assert ModelVersionOutput(rows[0]).data == generic[0]


def test_rows_write_times_as_drf_does_in_another_time_zone(cast, models):
    from django.utils import timezone

    rows = list(selectors.model_version_list(model=models.scorecard))
    with timezone.override("Europe/Paris"):
        serializer = ModelVersionOutput(rows, many=True)
        fast = serializer.data
        generic = [serializers.ModelSerializer.to_representation(serializer.child, row) for row in rows]

    assert fast == generic and fast[0]["created_at"].endswith(("+01:00", "+02:00"))


def test_the_api_reads_of_a_versions_relations_only_what_its_row_shows(cast, models, django_assert_num_queries):
    """The API's versions (one, and a model's list) come with their model's slug, their author's and their parent's
    names and no more of those rows; the output is the same as from whole rows, and writing it reads nothing more."""
    scorecard = models.scorecard
    parent = scorecard.versions.get(version="1.0.0")
    services.model_version_create(
        actor=Actor.of(cast.dana), model=scorecard, version="2.0.0", parent=parent, metrics={"auc": 0.9}
    )
    model = selectors.registered_model_get(user=cast.vera, slug="retail-scorecard", joined=False)
    listed = list(selectors.model_version_list(model=model, row=True))
    one = selectors.model_version_get(user=cast.vera, slug="retail-scorecard", version="2.0.0", row=True)

    with django_assert_num_queries(0):  # a deferred column read back would be a query per row
        rows = ModelVersionOutput(listed, many=True).data
        single = ModelVersionOutput(one).data

    whole = ModelVersionOutput(list(selectors.model_version_list(model=scorecard)), many=True).data
    assert rows == whole and single == whole[0]
    assert single["parent"] == "1.0.0" and single["created_by"] == "dana" and single["model"] == "retail-scorecard"
    assert [row["version"] for row in rows] == ["2.0.0", "1.1.0", "1.0.0"]
