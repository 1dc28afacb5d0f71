"""Bulk registration: many versions of a model in one transaction, all or none, each its own `version.created` event
recorded exactly as adding the version alone would record it, in a fixed number of queries."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.verification import verify_chain
from apps.inventory import services
from apps.inventory.models import ModelVersion, RegisteredModel
from tests.conftest import needs_postgres

# Constant whatever the batch's size: lock the model, the actor's roles (which also say whether its versions are
# parents the actor may see), versions already taken, the INSERT of the versions, the chain head's lock, the INSERT of
# the events, the head's and the model's UPDATEs (8); here also the SAVEPOINT and RELEASE of the service's
# transaction inside the test's. Parents of another model would add one query for them all.
BULK_QUERIES = 10


def entries(n, parent=None, start=0):
    """`n` versions with every kind of field, the way a CI job would send them."""
    return [
        {
            "version": f"3.{i}.0", "artifact_uri": f"s3://models/3.{i}.0", "artifact_digest": "SHA256:" + "C" * 64,
            "git_commit_sha": f"{i:040x}", "framework": "xgboost", "metrics": {"auc": 0.8 + i / 10_000},
            "parameters": {"depth": 6}, "model_card": f"# Retail Scorecard 3.{i}.0", "training_data": ["s3://d/1"],
            "parent": parent,
        }
        for i in range(start, start + n)
    ]  # fmt: skip


def bulk(cast, model, versions, who="dana"):
    return services.model_versions_create_bulk(actor=Actor.of(getattr(cast, who)), model=model, versions=versions)


def counts():
    return ModelVersion.objects.count(), AuditEvent.objects.count()


def test_n_versions_make_n_versions_and_n_events_recorded_as_one_at_a_time_would(cast, models, trail):
    parent = models.scorecard.versions.get(version="1.1.0")
    batch = entries(5, parent=parent)
    with transaction.atomic():  # the single path on the same input, then rolled back: its events are the reference
        for entry in batch:
            services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, **entry)
        one_at_a_time = [(event.action, event.target_label, event.changes) for event in trail.events()]
        transaction.set_rollback(True)
    assert trail.events() == []

    created = bulk(cast, models.scorecard, batch)

    assert [version.version for version in created] == [f"3.{i}.0" for i in range(5)]
    events = trail.events()
    assert [(event.action, event.target_label, event.changes) for event in events] == one_at_a_time
    assert [event.target_id for event in events] == [str(version.pk) for version in created]
    assert {(event.actor_label, event.team_id, event.model_id) for event in events} == {
        ("dana", cast.team_a.pk, models.scorecard.pk)
    }
    assert [event.version_id for event in events] == [version.pk for version in created]
    assert events[0].changes["parent"] == [None, "Retail Scorecard 1.1.0"]
    assert events[0].changes["artifact_digest"] == [None, "c" * 64]
    stored = ModelVersion.objects.filter(pk__in=[v.pk for v in created]).order_by("pk")
    assert {(v.source, v.created_by_id, v.parent_id, v.artifact_digest) for v in stored} == {
        ("manual", cast.dana.pk, parent.pk, "c" * 64)
    }
    models.scorecard.refresh_from_db()
    assert models.scorecard.updated_at == created[-1].created_at
    result = verify_chain()
    assert result.ok, str(result)


def warm(cast, models):
    """One batch first: the permission checks' process-wide caches (content types) are filled, as in a server."""
    bulk(cast, models.scorecard, [{"version": "0.0.1"}])
    return models.scorecard.versions.get(version="1.0.0")


def test_the_queries_are_the_same_for_5_and_for_200_versions(cast, models):
    needs_postgres()  # SQLite splits a long INSERT into several
    parent = warm(cast, models)
    used = []
    for start, n in ((0, 5), (100, 200)):
        batch = entries(n, parent=parent, start=start)
        with CaptureQueriesContext(connection) as queries:
            bulk(cast, models.scorecard, batch)
        used.append(len(queries))
    assert used == [BULK_QUERIES, BULK_QUERIES]


@pytest.mark.parametrize("n", [5, 200])
def test_a_batch_stays_within_its_query_budget(cast, models, django_assert_max_num_queries, n):
    if n > 5:
        needs_postgres()  # SQLite splits a long INSERT into several
    parent = warm(cast, models)
    with django_assert_max_num_queries(BULK_QUERIES):
        bulk(cast, models.scorecard, entries(n, parent=parent))
    assert models.scorecard.versions.count() == n + 3


# --- refused: the whole batch, with the entry named, and nothing written -------------------------------------------


@pytest.mark.parametrize(
    ("bad", "key", "message"),
    [
        ({"artifact_digest": "abc123"}, "versions[3].artifact_digest", "Enter a SHA-256 digest"),
        ({"git_commit_sha": "z" * 40}, "versions[3].git_commit_sha", "Enter a full Git commit SHA"),
        ({"metrics": {"auc": "high"}}, "versions[3].metrics", "Metric 'auc' must be a number"),
        ({"version": "not a version"}, "versions[3].version", "A version starts with a letter or digit"),
        ({"version": ""}, "versions[3].version", "This field cannot be blank."),
        ({"model_card": "x" * 100_001}, "versions[3].model_card", "at most 100000 characters"),
        ({"version": "1.0.0"}, "versions[3].version", "Retail Scorecard already has a version 1.0.0."),
        ({"version": "3.1.0"}, "versions[3].version", "Version 3.1.0 is already in this batch, at versions[1]."),
    ],
)
def test_one_bad_entry_refuses_the_batch_naming_it(cast, models, trail, bad, key, message):
    batch = entries(5)
    batch[3] |= bad
    before = counts()

    with pytest.raises(ValidationError) as caught:
        bulk(cast, models.scorecard, batch)

    assert set(caught.value.message_dict) == {key}, caught.value.message_dict
    assert any(message in text for text in caught.value.message_dict[key]), caught.value.message_dict
    assert counts() == before and trail.events() == []


def test_every_bad_entry_is_named_at_once(cast, models, trail):
    batch = entries(4)
    batch[0]["artifact_digest"] = "f" * 63
    batch[2] |= {"version": "1.1.0", "metrics": [0.9]}

    with pytest.raises(ValidationError) as caught:
        bulk(cast, models.scorecard, batch)

    assert set(caught.value.message_dict) == {
        "versions[0].artifact_digest", "versions[2].version", "versions[2].metrics"
    }  # fmt: skip
    assert trail.events() == []


def test_a_parent_the_actor_cannot_see_refuses_the_batch(cast, models, trail):
    batch = entries(3)
    batch[1]["parent"] = models.detector.versions.get(version="3.0.0")  # team B's: dana cannot see it

    with pytest.raises(ValidationError) as caught:
        bulk(cast, models.scorecard, batch)

    assert caught.value.message_dict == {"versions[1].parent": ["Choose a parent version you can see."]}
    assert trail.events() == []


def test_a_batch_over_the_limit_is_refused(cast, models, trail):
    before = counts()
    batch = [{"version": f"0.0.{i}"} for i in range(services.MAX_VERSIONS_PER_BATCH + 1)]

    with pytest.raises(ValidationError) as caught:
        bulk(cast, models.scorecard, batch)

    assert caught.value.message_dict == {
        "versions": ["At most 1,000 versions in one batch, not 1,001: send them in several."]
    }
    assert counts() == before and trail.events() == []


def test_the_limit_itself_is_accepted(cast, models, trail):
    batch = [{"version": f"0.0.{i}"} for i in range(services.MAX_VERSIONS_PER_BATCH)]

    assert len(bulk(cast, models.scorecard, batch)) == 1000
    assert len(trail.events(action="version.created")) == 1000


def test_unknown_fields_are_refused(cast, models, trail):
    with pytest.raises(ValidationError, match="Unknown version fields: created_by, source"):
        bulk(cast, models.scorecard, [{"version": "4.0.0"}, {"version": "4.1.0", "source": "git", "created_by": 1}])
    assert trail.events() == []


@pytest.mark.parametrize("name", ["vera", "rita", "audrey", "ben"])
def test_people_who_may_not_add_versions_are_refused_and_nothing_is_written(cast, models, trail, name):
    before = counts()

    with pytest.raises(PermissionDenied, match="You may not add versions to Retail Scorecard"):
        bulk(cast, models.scorecard, entries(3), who=name)

    assert counts() == before and trail.events() == []


def test_an_empty_batch_writes_nothing(cast, models, trail):
    before = RegisteredModel.objects.values().get(pk=models.scorecard.pk)

    assert bulk(cast, models.scorecard, []) == []

    assert trail.events() == []
    assert RegisteredModel.objects.values().get(pk=models.scorecard.pk) == before


def test_git_sync_may_register_in_bulk_as_a_system_principal(cast, models, trail):
    created = services.model_versions_create_bulk(
        actor=Actor.system("git-sync"), model=models.scorecard, versions=entries(2), source="git"
    )

    assert {(version.source, version.created_by_id) for version in created} == {("git", None)}
    assert [(event.actor_kind, event.actor_label) for event in trail.events()] == [("system", "git-sync")] * 2


# -- many models at once (Git sync) ---------------------------------------------------------------------------


def model_entries(*names):
    return [{"name": name, "risk_tier": "medium", "description": f"{name}.", "source_path": f"models/{name}"}
            for name in names]  # fmt: skip


def test_many_models_are_registered_at_once_each_recorded_as_registering_it_alone_would(cast, models, trail):
    alone = services.registered_model_register(
        actor=Actor.system("git-sync"), team=cast.team_a, **model_entries("solo")[0]
    )
    recorded_alone = trail.events()[-1].changes

    with CaptureQueriesContext(connection) as two:
        services.registered_models_register_bulk(
            actor=Actor.system("git-sync"), team=cast.team_a, models=model_entries("a-1", "a-2")
        )
    with CaptureQueriesContext(connection) as five:
        created = services.registered_models_register_bulk(
            actor=Actor.system("git-sync"), team=cast.team_a, models=model_entries(*(f"b-{n}" for n in range(5)))
        )

    assert len(two) == len(five)
    assert [model.slug for model in created] == [f"b-{n}" for n in range(5)]
    events = trail.events()[1:]
    assert [(event.action, event.target_label) for event in events] == [
        ("model.registered", name) for name in ("a-1", "a-2", *(f"b-{n}" for n in range(5)))
    ]
    assert events[0].changes == {**recorded_alone, "name": [None, "a-1"], "description": [None, "a-1."],
                                 "source_path": [None, "models/a-1"]}  # fmt: skip
    assert alone.name == "solo"
    assert verify_chain().ok


def test_a_batch_of_models_with_a_taken_or_empty_name_is_refused_whole_and_says_which(cast, models, trail):
    before = RegisteredModel.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.registered_models_register_bulk(
            actor=Actor.system("git-sync"), team=cast.team_a,
            models=model_entries("fresh", models.scorecard.name, "--", "fresh"),
        )  # fmt: skip

    assert refused.value.message_dict == {
        "models[1].name": [f"A model with this name (or one too similar: /models/{models.scorecard.slug}/) exists."],
        "models[2].name": ["Enter a name with at least one letter or digit."],
        "models[3].name": ["A model with this name (or one too similar: /models/fresh/) exists."],
    }
    assert RegisteredModel.objects.count() == before
    assert trail.events() == []


def test_only_who_may_register_in_the_team_registers_models_in_bulk(cast, models, trail):
    with pytest.raises(PermissionDenied):
        services.registered_models_register_bulk(
            actor=Actor.of(cast.vera), team=cast.team_a, models=model_entries("viewer-made")
        )

    assert not RegisteredModel.objects.filter(name="viewer-made").exists()
    assert trail.events() == []


# -- the versions of many models at once (Git sync's first run) -------------------------------------------------

GIT_SYNC = Actor.system("git-sync")


def across(pairs, actor=GIT_SYNC):
    return services.model_versions_create_bulk_across(actor=actor, versions=pairs, source="git")


def test_versions_of_several_models_in_one_batch_are_recorded_as_adding_them_model_by_model_would(cast, models, trail):
    batch = entries(4)
    pairs = [(models.scorecard, batch[0]), (models.detector, batch[1]), (models.scorecard, batch[2]),
             (models.detector, batch[3])]  # fmt: skip
    with transaction.atomic():  # model by model, then rolled back: its events are the reference
        for model in (models.scorecard, models.detector):
            services.model_versions_create_bulk(
                actor=GIT_SYNC, model=model, versions=[entry for m, entry in pairs if m == model], source="git"
            )
        reference = sorted((event.target_label, event.changes, event.model_id) for event in trail.events())
        transaction.set_rollback(True)

    created = across(pairs)

    assert [(version.model_id, version.version) for version in created] == [
        (model.pk, entry["version"]) for model, entry in pairs
    ]
    events = trail.events()
    assert [event.target_id for event in events] == [str(version.pk) for version in created]
    assert sorted((event.target_label, event.changes, event.model_id) for event in events) == reference
    assert {event.team_id for event in events} == {cast.team_a.pk, cast.team_b.pk}
    for model, before, newest in ((models.scorecard, 2, created[2]), (models.detector, 1, created[3])):
        model.refresh_from_db()
        assert (model.version_count, model.latest_version_id) == (before + 2, newest.pk)
        assert model.latest_version_at == model.updated_at == newest.created_at
    assert verify_chain().ok


def test_a_batch_across_models_costs_the_queries_of_a_batch_of_one_model(cast, models):
    across([(models.scorecard, {"version": "0.0.1"})])  # the process-wide caches, as in a server
    used = []
    for pairs in (
        [(models.scorecard, entry) for entry in entries(4)],
        [
            (model, entry)
            for model, entry in zip([models.scorecard, models.detector] * 2, entries(4, start=10), strict=True)
        ],
    ):
        with CaptureQueriesContext(connection) as queries:
            across(pairs)
        used.append(len(queries))
    assert used[1] == used[0] <= BULK_QUERIES  # a system principal has no role to look up


def test_a_bad_entry_refuses_the_whole_batch_across_models_naming_its_position(cast, models, trail):
    batch = entries(3)
    batch[2]["version"] = "3.0.0"  # Card Fraud Detector has it; Retail Scorecard's new 3.0.0 (batch[0]) is no clash
    pairs = [(models.scorecard, batch[0]), (models.detector, batch[1]), (models.detector, batch[2])]
    before = counts()

    with pytest.raises(ValidationError) as caught:
        across(pairs)

    assert caught.value.message_dict == {"versions[2].version": ["Card Fraud Detector already has a version 3.0.0."]}
    assert counts() == before and trail.events() == []


def test_who_may_not_add_versions_to_one_of_the_models_adds_none_to_any(cast, models, trail):
    before = counts()

    with pytest.raises(PermissionDenied, match="You may not add versions to Card Fraud Detector"):
        across([(models.scorecard, entries(1)[0]), (models.detector, entries(1)[0])], actor=Actor.of(cast.dana))

    assert counts() == before and trail.events() == []
