"""Tampering by someone who can switch the triggers off: the hash chain still names what was done.

Each test plays a database superuser: it bypasses the append-only triggers, tampers with
the table, and checks that verify_chain() and `manage.py audit_verify` (exit code 1) name
the right sequence and problem.
"""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit import hashing, verification
from apps.audit.hashing import GENESIS_HASH
from apps.audit.models import AuditEvent, ChainHead, payload_from_values
from apps.audit.verification import verify_chain
from bench.generate import generate_events

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


# The fast path: it may only vouch for what the reference definition (hashing.compute_hash) accepts.


def append_raw(timestamp, changes) -> AuditEvent:
    """An event with a chosen timestamp and changes, hashed by the reference definition, the head moved."""
    head = ChainHead.objects.get()
    event = AuditEvent(
        sequence=head.sequence + 1, timestamp=timestamp, actor_label="test", actor_kind="system",
        action="model.updated", target_type="test.thing", target_id="1", target_label="thing", team_id=1,
        changes=changes, context={"source": "test"}, prev_hash=head.hash,
    )  # fmt: skip
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    ChainHead.objects.filter(pk=1).update(sequence=event.sequence, hash=event.hash)
    return event


def test_the_fast_path_vouches_for_every_intact_event(db, monkeypatch):
    tricky = {
        "floats": [1e16, 2.0, 0.1, -0.0, 1e-07, 123456789.125], "big": 2**70, "none": None, "flag": True,
        "text": 'Zürich ✓ 東京 😀 "q" \\ \n\t\x01', "nested": {"b": [{"z": 1, "a": [None, 2.5]}], "A": {}, "é": "ä"},
    }  # fmt: skip
    append(3, **tricky)
    append_raw(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), tricky)  # no microseconds: isoformat() leaves them out
    append_raw(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), {"x": [1.5, "ü"]})
    generate_events(40)

    def refuse(pk, *args):
        raise AssertionError(f"the fast path did not vouch for event id {pk}")

    monkeypatch.setattr(verification, "_check_row", refuse)
    result = verify_chain(chunk_size=7)
    assert (result.ok, result.count) == (True, 45)


def test_a_hash_over_the_fast_encoding_of_an_odd_value_is_still_caught(db):
    # SQLite keeps a float in an integer column; the fast path would write 1e+20 where normalize() writes
    # 100000000000000000000. A forger who hashes the fast way must not pass: such rows go to the reference.
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL columns hold only their declared types")
    append(3)
    with triggers_bypassed():
        execute("UPDATE audit_auditevent SET team_id = 1e20 WHERE sequence = 3")
    row = AuditEvent.objects.filter(sequence=3).values(*verification._COLUMNS).get()
    payload = payload_from_values(row)
    assert payload["scope"] == {"team": 1e20}
    forged = hashing.hash_normalized(payload)
    assert forged != hashing.compute_hash(payload)
    with triggers_bypassed():
        execute("UPDATE audit_auditevent SET hash = %s WHERE sequence = 3", [forged])
    ChainHead.objects.filter(pk=1).update(hash=forged)
    assert "does not match its stored hash" in assert_reported(3, "edited")
    # Hashed the reference way, the same value is simply what the event says.
    with triggers_bypassed():
        execute("UPDATE audit_auditevent SET hash = %s WHERE sequence = 3", [hashing.compute_hash(payload)])
    ChainHead.objects.filter(pk=1).update(hash=hashing.compute_hash(payload))
    assert verify_chain().ok


# Parallel verification (audit_verify --workers): the same answers, from several processes.


@pytest.fixture
def parallel(transactional_db, monkeypatch):
    """Tiny segments so a short chain is split across processes; counts the runs that stayed parallel."""
    monkeypatch.setattr(verification, "MIN_SEGMENT", 5)
    runs = []
    original = verification._scan_parallel

    def spy(*args):
        result = original(*args)
        runs.append(result is not None)
        return result

    monkeypatch.setattr(verification, "_scan_parallel", spy)
    return runs


def test_parallel_verification_of_an_intact_chain_matches_the_sequential_one(parallel):
    generate_events(60)
    sequential = verify_chain()
    assert sequential.ok and parallel == []
    assert verify_chain(workers=3) == sequential
    assert parallel == [True]
    out = StringIO()
    call_command("audit_verify", "--workers", "2", stdout=out)
    assert out.getvalue() == f"{sequential}\n"
    assert parallel == [True, True]


def test_parallel_verification_hands_tampering_to_the_sequential_scan(parallel):
    generate_events(60)
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=33).update(actor_label="someone-else")
    result = verify_chain(workers=3)
    assert (result.ok, result.bad_sequence, result.problem, result.count) == (False, 33, "edited", 32)
    assert parallel == [False]


def test_parallel_verification_stitches_segments_by_their_links(parallel):
    generate_events(60)
    # From event 21 (where the second of three segments starts) on, everything is re-hashed and re-linked from a
    # link to nothing: each segment holds together, only the seam between the first two does not.
    prev_hash = "e" * 64
    with triggers_bypassed():
        for event in AuditEvent.objects.filter(sequence__gte=21).order_by("sequence"):
            event.prev_hash = prev_hash
            event.hash = prev_hash = event.compute_hash()
            AuditEvent.objects.filter(pk=event.pk).update(prev_hash=event.prev_hash, hash=event.hash)
    ChainHead.objects.filter(pk=1).update(hash=prev_hash)
    result = verify_chain(workers=3)
    assert parallel == [False]
    assert result == verify_chain()
    assert (result.ok, result.bad_sequence, result.problem) == (False, 20, "edited")
    assert "event 21 links to a hash no event has" in result.detail


def test_parallel_verification_is_not_used_inside_a_transaction(db, monkeypatch):
    monkeypatch.setattr(verification, "MIN_SEGMENT", 5)
    generate_events(30)
    assert not verification._can_fork(2, 30)  # forked workers could not see this test's uncommitted rows
    assert verify_chain(workers=2).ok
