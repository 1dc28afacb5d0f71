"""The version count and latest version each model row carries for the lists: every path that adds versions
keeps them right in its own transaction, a refused batch leaves them as they were, and the migration fills
them in for models that had versions before."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.audit.actors import Actor
from apps.inventory import services
from apps.inventory.models import RegisteredModel


def summary(model):
    """(count, latest version string, its time) as stored on the row, and as counted from the versions."""
    model = RegisteredModel.objects.select_related("latest_version").get(pk=model.pk)
    newest = model.versions.order_by("-created_at", "-pk").first()
    stored = (model.version_count, model.latest_version.version if model.latest_version else None,
              model.latest_version_at)  # fmt: skip
    counted = (model.versions.count(), newest.version if newest else None, newest.created_at if newest else None)
    return stored, counted


def test_adding_one_version_counts_it_and_makes_it_the_latest(cast, models):
    services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="2.0.0")

    stored, counted = summary(models.scorecard)
    assert stored == counted
    assert stored[:2] == (3, "2.0.0")


def test_adding_a_batch_counts_each_and_the_last_is_the_latest(cast, models):
    batch = [{"version": f"4.{n}.0"} for n in range(5)]
    services.model_versions_create_bulk(actor=Actor.of(cast.dana), model=models.scorecard, versions=batch)

    stored, counted = summary(models.scorecard)
    assert stored == counted
    assert stored[:2] == (7, "4.4.0")


def test_a_refused_version_or_batch_changes_neither_count_nor_latest(cast, models):
    before = summary(models.scorecard)
    with pytest.raises(ValidationError):
        services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="1.0.0")
    with pytest.raises(ValidationError):
        services.model_versions_create_bulk(
            actor=Actor.of(cast.dana), model=models.scorecard, versions=[{"version": "5.0"}, {"version": "1.1.0"}]
        )

    assert summary(models.scorecard) == before


def test_a_new_model_has_no_versions_and_no_latest(cast, models):
    model = services.registered_model_register(actor=Actor.of(cast.dana), team=cast.team_a, name="New", risk_tier="low")

    assert summary(model) == ((0, None, None), (0, None, None))


def test_the_list_and_the_api_show_the_stored_count_and_latest(cast, models, client):
    services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="2.0.0")
    client.force_login(cast.dana)

    [row] = client.get("/api/v1/models/").json()["results"]
    [listed] = client.get("/models/").context["page"]

    assert (row["version_count"], row["latest_version"]) == (3, "2.0.0")
    assert (listed.version_count, listed.latest_version.version) == (3, "2.0.0")


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_in_count_and_latest_for_existing_models(cast, models):
    executor = MigrationExecutor(connection)
    executor.migrate([("inventory", "0004_environment_rollout_grace")])
    with connection.cursor() as cursor:  # a portal before the migration: the columns do not exist yet
        cursor.execute("SELECT COUNT(*) FROM inventory_modelversion")
        assert cursor.fetchone()[0] == 3
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    for model in (models.scorecard, models.detector):
        stored, counted = summary(model)
        assert stored == counted
    assert summary(models.scorecard)[0][:2] == (2, "1.1.0")
    tag_names = dict(RegisteredModel.objects.values_list("name", "tag_names"))
    assert tag_names == {"Retail Scorecard": " credit ", "Card Fraud Detector": ""}


def test_search_finds_a_whole_tag_as_the_tags_are_now_and_not_part_of_one(cast, models, client):
    client.force_login(cast.dana)

    def found(term):
        return [m.name for m in client.get("/models/", {"q": term}).context["page"]]

    assert found("credit") == ["Retail Scorecard"]
    services.registered_model_update(actor=Actor.of(cast.dana), model=models.scorecard, tags=["retail", "pd-model"])

    assert found("credit") == []
    assert found("PD-MODEL") == ["Retail Scorecard"]
    assert found("pd") == []  # part of a tag is not a tag (nor in the name or description)
    assert RegisteredModel.objects.get(pk=models.scorecard.pk).tag_names == " pd-model retail "
