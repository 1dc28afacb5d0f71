"""record_many(): many events under one lock of the chain head, each still its own hashed and chained event."""

import pytest
from django.db import connection, transaction

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import Target, record, record_many
from apps.audit.verification import verify_chain
from tests.conftest import needs_postgres

from .test_concurrency import run_in_threads

SYSTEM = Actor.system("bulk-test")


def entries(n: int, start: int = 0):
    return [(Action.VERSION_CREATED, SYSTEM, Target("inventory.modelversion", i, f"Model {i}", {"team": 7}),
             {"version": [None, f"1.{i}.0"]}) for i in range(start, start + n)]  # fmt: skip


def test_the_events_are_appended_in_order_each_chained_to_the_one_before(db):
    with transaction.atomic():
        first = record(action=Action.ENVIRONMENT_CREATED, actor=SYSTEM, target=Target("x.env", 1, "Dev"))
        events = record_many(entries(5))

    stored = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in stored] == list(range(first.sequence, first.sequence + 6))
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert [e.hash for e in stored[1:]] == [e.hash for e in events]
    assert all(e.hash == e.compute_hash() for e in stored)
    assert stored[3].changes == {"version": [None, "1.2.0"]} and stored[3].team_id == 7
    head = ChainHead.objects.get()
    assert (head.sequence, head.hash) == (stored[-1].sequence, stored[-1].hash)
    assert verify_chain().ok


@pytest.mark.parametrize(
    "value",
    [2.0, 1e-05, 0.1, 1e300, 2**70, -(2**63), "1.0}", "e+5", "\x00 \x1f \u2028 é 😀", {"b": [1.5, None], "a": True}],
)
def test_every_value_is_hashed_as_the_definition_hashes_it(db, value):
    """record_many() hashes at C speed what orjson can vouch for; anything else takes the definition's path."""
    with transaction.atomic():
        [event] = record_many([(Action.VERSION_CREATED, SYSTEM, Target("x.model", 1, "label"), {"v": [None, value]})])

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.hash == event.hash == stored.compute_hash()
    assert verify_chain().ok


def test_a_rolled_back_batch_leaves_no_event_and_the_head_unmoved(db):
    head = ChainHead.objects.get_or_create(pk=1)[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        record_many(entries(3))
        raise RuntimeError("the service failed after recording")
    assert not AuditEvent.objects.exists()
    assert ChainHead.objects.get().hash == head.hash


def test_bad_entries_are_refused_before_anything_is_written(transactional_db):
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        record_many(entries(2))
    with pytest.raises(ValueError, match="unknown audit action"), transaction.atomic():
        record_many([*entries(2), ("model.teleported", SYSTEM, None, {})])
    assert not AuditEvent.objects.exists()


def test_record_and_record_many_from_several_connections_form_one_verifiable_chain(transactional_db):
    needs_postgres()

    def work(n):
        for round_ in range(10):
            with transaction.atomic():
                if n % 2:
                    record_many(entries(7, start=round_ * 7))
                else:
                    record(action=Action.ENVIRONMENT_CREATED, actor=SYSTEM, target=Target("x.env", n, f"Env {n}"))

    assert run_in_threads(6, work) == []
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 3 * 10 * 7 + 3 * 10 + 1))  # gapless: 3 bulk writers, 3 single ones
    result = verify_chain()
    assert result.ok, str(result)
    assert connection.vendor == "postgresql"
