"""record(): the one way an event enters the chain."""

import itertools
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from apps.accounts.models import Membership
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.hashing import GENESIS_HASH
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import Target, record
from apps.audit.verification import verify_chain
from apps.core import request_context

from .helpers import append


def head():
    return ChainHead.objects.filter(pk=1).values_list("sequence", "hash").first() or (0, GENESIS_HASH)


def test_record_refuses_an_action_outside_the_catalogue(db):
    for action in ("user.pwned", "user.created"):  # a plain string is refused even when it names a real action
        with pytest.raises(ValueError, match="unknown audit action"), transaction.atomic():
            record(action=action, actor=Actor.system("test"), target=Target("test.thing", 1))
    assert not AuditEvent.objects.exists()
    assert head() == (0, GENESIS_HASH)


def test_record_refuses_an_actor_that_is_not_an_actor(cast):
    for actor in (cast.dana, None, "dana"):
        with pytest.raises(TypeError, match="actor must be an Actor"), transaction.atomic():
            record(action=Action.USER_UPDATED, actor=actor, target=cast.dana)
    assert not AuditEvent.objects.exists()


def test_record_refuses_a_target_it_cannot_describe(db):
    with pytest.raises(TypeError, match="cannot audit a dict"), transaction.atomic():
        record(action=Action.MODEL_UPDATED, actor=Actor.system("test"), target={"id": 1})
    assert not AuditEvent.objects.exists()


def test_sequences_are_gapless_and_each_event_links_to_the_previous_hash(db):
    events = append(6)
    stored = list(AuditEvent.objects.order_by("sequence"))
    assert [event.sequence for event in stored] == [1, 2, 3, 4, 5, 6]
    assert [event.hash for event in stored] == [event.hash for event in events]
    assert stored[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(stored):
        assert event.prev_hash == previous.hash
    assert head() == (6, stored[-1].hash)
    assert verify_chain().ok


def test_event_carries_the_user_actor_and_the_target_scope(cast, models):
    version = models.scorecard.versions.get(version="1.1.0")
    with transaction.atomic():
        event = record(action=Action.VERSION_UPDATED, actor=Actor.of(cast.dana), target=version)
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_id, event.actor_label, event.actor_kind) == (cast.dana.pk, "dana", "user")
    assert (event.target_type, event.target_id, event.target_label) == (
        "inventory.modelversion",
        str(version.pk),
        "Retail Scorecard 1.1.0",
    )
    scorecard = models.scorecard
    assert (event.team_id, event.model_id, event.version_id) == (scorecard.team_id, scorecard.pk, version.pk)
    assert event.scope == {"team": scorecard.team_id, "model": scorecard.pk, "version": version.pk}


def test_event_of_a_system_actor_on_a_team_scoped_row_has_no_user(cast):
    membership = Membership.objects.get(user=cast.rita)
    with transaction.atomic():
        event = record(action=Action.ROLE_CHANGED, actor=Actor.system("git-sync"), target=membership)
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_id, event.actor_label, event.actor_kind) == (None, "git-sync", "system")
    assert (event.target_type, event.target_id) == ("accounts.membership", str(membership.pk))
    assert (event.team_id, event.model_id, event.version_id) == (cast.team_a.pk, None, None)


def test_event_of_a_non_row_target_keeps_its_type_id_label_and_scope(db):
    target = Target("accounts.user", "", "x" * 300, scope={"team": 4})
    with transaction.atomic():
        event = record(action=Action.USER_LOGIN_FAILED, actor=Actor.system("auth"), target=target)
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("accounts.user", "", "x" * 200)
    assert (event.team_id, event.model_id) == (4, None)


def test_event_carries_the_current_request_context(db):
    context = request_context.RequestContext(
        request_id="req-0123456789", source="api", client_ip="198.51.100.7", user_agent="govportal-ci/1.0"
    )
    token = request_context.activate(context)
    try:
        (event,) = append(1)
    finally:
        request_context.deactivate(token)
    assert AuditEvent.objects.get(pk=event.pk).context == {
        "request_id": "req-0123456789",
        "source": "api",
        "client_ip": "198.51.100.7",
        "user_agent": "govportal-ci/1.0",
    }


def test_event_outside_any_request_runs_in_a_command_context(db):
    with request_context.bind(request_id="cmd-12345678", source="command"):
        (event,) = append(1)
    assert AuditEvent.objects.get(pk=event.pk).context == {"request_id": "cmd-12345678", "source": "command"}


def test_labels_are_frozen_copies_that_survive_renames(cast):
    with transaction.atomic():
        event = record(action=Action.TEAM_UPDATED, actor=Actor.of(cast.alice), target=cast.team_a)
    cast.team_a.name = "Retail Credit"
    cast.team_a.save()
    cast.alice.username = "alice.renamed"
    cast.alice.save()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_label, event.target_label) == ("alice", "Credit Risk")
    assert event.compute_hash() == event.hash


def test_changes_round_trip_through_the_database_and_still_verify(db):
    changes = {
        "approved_on": date(2024, 1, 31),
        "decided_at": datetime(2024, 1, 31, 9, 30, 15, 123456, tzinfo=UTC),
        "threshold": Decimal("12.50"),
        "big": 1e16,
        "two": 2.0,
        "ratio": 0.1,
        "tiny": 1e-7,
        "sum": 0.1 + 0.2,
        "huge": 2**63 + 1,
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "nested": {"list": [1, 2.0, {"deep": Decimal("1E+2"), "flag": False}], "none": None, "tuple": (3.0, "x")},
        "text": 'Zürich ✓ "quoted" \\ back',
        "nul": "a\x00b",
    }
    with transaction.atomic():
        event = record(
            action=Action.MODEL_UPDATED, actor=Actor.system("test"), target=Target("test.thing", 1), changes=changes
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.changes == event.changes
    assert stored.changes["approved_on"] == "2024-01-31"
    assert stored.changes["threshold"] == "12.50"
    assert stored.changes["big"] == 10**16 and type(stored.changes["big"]) is int
    assert stored.changes["two"] == 2 and type(stored.changes["two"]) is int
    assert stored.changes["sum"] == 0.1 + 0.2
    assert stored.changes["huge"] == 2**63 + 1
    assert stored.changes["nested"]["list"] == [1, 2, {"deep": "1E+2", "flag": False}]
    assert stored.changes["nul"] == "a\ufffdb"
    assert stored.compute_hash() == stored.hash
    assert verify_chain().ok


def test_a_rolled_back_savepoint_gives_its_sequence_back(db):
    (first,) = append(1)
    with transaction.atomic():
        try:
            with transaction.atomic():
                append(2)
                raise LookupError("the service failed after recording")
        except LookupError:
            pass
        (after,) = append(1)
    assert after.sequence == first.sequence + 1
    assert after.prev_hash == first.hash
    assert AuditEvent.objects.count() == 2
    assert verify_chain().ok
