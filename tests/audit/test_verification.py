"""Tampering by someone who can switch the triggers off: the hash chain still names what was done.

Each test plays a database superuser: it bypasses the append-only triggers, tampers with
the table, and checks that verify_chain() and `manage.py audit_verify` (exit code 1) name
the right sequence and problem.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit.hashing import GENESIS_HASH
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.verification import verify_chain

from .helpers import append, forge, triggers_bypassed

EVENTS = 8


@pytest.fixture
def chain(db):
    """Eight intact events, 1..8; returns their hashes by sequence."""
    return {event.sequence: event.hash for event in append(EVENTS)}


def assert_reported(sequence: int, problem: str, chunk_size: int = 2000) -> str:
    result = verify_chain(chunk_size=chunk_size)
    assert (result.ok, result.bad_sequence, result.problem) == (False, sequence, problem), result.detail
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify", stdout=StringIO())
    assert failure.value.returncode == 1
    assert str(failure.value).startswith(f"FAILED at sequence {sequence}: {problem} — ")
    return result.detail


def execute(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def renumber_from(sequence: int) -> None:
    """Shift every event from `sequence` on up by one, highest first so `sequence` stays unique."""
    later = AuditEvent.objects.filter(sequence__gte=sequence).order_by("-sequence")
    for current in later.values_list("sequence", flat=True):
        execute("UPDATE audit_auditevent SET sequence = sequence + 1 WHERE sequence = %s", [current])


def test_intact_chain_passes_and_audit_verify_prints_ok(chain):
    out = StringIO()
    call_command("audit_verify", stdout=out)  # returns normally: exit code 0
    assert out.getvalue() == f"OK: {EVENTS} events, chain head #{EVENTS} {chain[EVENTS]}\n"
    result = verify_chain(chunk_size=3)
    assert (result.ok, result.count, result.head_sequence, result.head_hash) == (True, EVENTS, EVENTS, chain[EVENTS])


def test_empty_chain_passes(db):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue() == f"OK: 0 events, chain head #0 {GENESIS_HASH}\n"


@pytest.mark.parametrize("chunk_size", [2000, 2])
def test_edited_changes_are_reported_as_edited_at_that_event(chain, chunk_size):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=5).update(changes={"n": [4, 500]})
    detail = assert_reported(5, "edited", chunk_size)
    assert "does not match its stored hash" in detail


def test_edited_actor_label_is_reported_as_edited_at_that_event(chain):
    with triggers_bypassed():
        execute("UPDATE audit_auditevent SET actor_label = 'someone-else' WHERE sequence = 5")
    assert_reported(5, "edited")


def test_edited_first_event_is_reported_as_edited(chain):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=1).update(target_label="renamed")
    assert_reported(1, "edited")


def test_deleted_middle_event_is_reported_missing(chain):
    with triggers_bypassed():
        execute("DELETE FROM audit_auditevent WHERE sequence = 4")
    detail = assert_reported(4, "missing")
    assert "events 4 are missing" in detail


def test_deleted_run_of_events_is_reported_missing_from_the_first(chain):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence__in=[3, 4, 5]).delete()
    assert "events 3..5 are missing" in assert_reported(3, "missing")


def test_deleted_first_event_is_reported_missing(chain):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=1).delete()
    assert_reported(1, "missing")


def test_deleted_last_event_is_reported_missing_from_the_chain_head(chain):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=EVENTS).delete()
    detail = assert_reported(EVENTS, "missing")
    assert f"the chain head records {EVENTS}" in detail


def test_forged_event_beyond_the_chain_head_is_reported_inserted(chain):
    forge(EVENTS + 1, chain[EVENTS])  # a correct hash and link: only the chain head knows
    assert_reported(EVENTS + 1, "inserted")


def test_forged_event_with_a_bad_hash_beyond_the_chain_head_is_reported_inserted(chain):
    forged = forge(EVENTS + 1, chain[EVENTS])
    with triggers_bypassed():
        AuditEvent.objects.filter(pk=forged.pk).update(hash="e" * 64)
    assert_reported(EVENTS + 1, "inserted")


def test_forged_event_after_a_gap_beyond_the_chain_head_is_reported_inserted_at_its_sequence(chain):
    forge(EVENTS + 5, chain[EVENTS])
    assert_reported(EVENTS + 5, "inserted")


def test_forged_event_inserted_mid_chain_is_reported_inserted_at_its_sequence(chain):
    with triggers_bypassed():
        renumber_from(4)
        forge(4, chain[3])
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(range(1, 10))
    detail = assert_reported(4, "inserted")
    assert "inserted" in detail


def test_forged_event_with_a_bad_hash_inserted_mid_chain_is_reported_inserted(chain):
    with triggers_bypassed():
        renumber_from(4)
        forged = forge(4, chain[3])
        AuditEvent.objects.filter(pk=forged.pk).update(hash="f" * 64)
    assert_reported(4, "inserted")


@pytest.mark.parametrize(("low", "high"), [(3, 6), (4, 5), (1, 2), (7, 8)])
def test_swapped_events_are_reported_reordered_at_the_lower_sequence(chain, low, high):
    parked = 1_000_000
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=low).update(sequence=parked)
        AuditEvent.objects.filter(sequence=high).update(sequence=low)
        AuditEvent.objects.filter(sequence=parked).update(sequence=high)
    assert_reported(low, "reordered")


def test_edited_event_with_a_recomputed_hash_is_reported_as_edited_naming_it(chain):
    event = AuditEvent.objects.get(sequence=5)
    event.actor_label = "someone-else"
    rewritten = event.compute_hash()
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=5).update(actor_label="someone-else", hash=rewritten)
    detail = assert_reported(5, "edited")
    assert "rewritten" in detail


def test_rewritten_last_event_is_reported_as_edited_by_the_chain_head(chain):
    event = AuditEvent.objects.get(sequence=EVENTS)
    event.changes = {"n": [0, 0]}
    rewritten = event.compute_hash()
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=EVENTS).update(changes=event.changes, hash=rewritten)
    assert_reported(EVENTS, "edited")


def test_every_later_event_rehashed_still_fails_against_the_chain_head(chain):
    # The forger rewrites event 5 and re-links everything after it; only the chain head row remains.
    with triggers_bypassed():
        prev_hash = chain[4]
        for event in AuditEvent.objects.filter(sequence__gte=5).order_by("sequence"):
            if event.sequence == 5:
                event.actor_label = "someone-else"
            event.prev_hash = prev_hash
            event.hash = event.compute_hash()
            AuditEvent.objects.filter(pk=event.pk).update(
                actor_label=event.actor_label, prev_hash=event.prev_hash, hash=event.hash
            )
            prev_hash = event.hash
    assert ChainHead.objects.get().hash == chain[EVENTS]
    assert_reported(EVENTS, "edited")
