"""verify_chain() with its C-speed hash says exactly what the definition alone says, tampered or not.

Each test builds a chain of varied events (floats orjson writes differently, unicode, a year before 1000), tampers
with it as a database superuser would, then verifies twice: as it runs (fast path) and with the fast path switched
off, so every event is judged by hashing.compute_hash() through the ORM. Both must give the same Verification,
down to the sequence and the sentence, and the sentence must be the one for that kind of tampering.
"""

from datetime import UTC, datetime

import pytest

from apps.audit import checkpoints, fast_hashing, signing, verification
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from bench.generate import generate_events

from .helpers import append, triggers_bypassed
from .test_verification import append_raw, execute

SIGNING_KEY = signing.generate_pem().decode()
ODD_VALUES = {"small": 1e-05, "integral": 2.0, "huge": 2**70, "text": 'Zürich ✓ 東京 😀 "q" \\ \n\t\x01', "n": 0.1}


@pytest.fixture
def chain(db, settings):
    settings.AUDIT_SIGNING_KEY = SIGNING_KEY
    signing.private_key.cache_clear()
    append(3, **ODD_VALUES)
    append_raw(datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC), {"x": [1.5, "ü"]})  # PostgreSQL writes year 0999
    append_raw(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), ODD_VALUES)  # no microseconds
    generate_events(25)
    yield 30
    signing.private_key.cache_clear()


def verified_both_ways(monkeypatch):
    fast = verify_chain(chunk_size=7)
    with monkeypatch.context() as patch:
        patch.setattr(fast_hashing, "payload_digest", lambda *args: None)  # every event to the reference judge
        reference = verify_chain(chunk_size=7)
    assert fast == reference
    return fast


def test_an_intact_chain_verifies_alike(chain, monkeypatch):
    vouched, judged = [], []
    original_canonical, original_judge = fast_hashing.canonical_or_none, verification._check_row

    def canonical_spy(value):
        data = original_canonical(value)
        vouched.append(data is not None)
        return data

    monkeypatch.setattr(fast_hashing, "canonical_or_none", canonical_spy)
    monkeypatch.setattr(verification, "_check_row", lambda *args: judged.append(args[1]) or original_judge(*args))
    result = verified_both_ways(monkeypatch)
    assert (result.ok, result.count) == (True, chain)
    # orjson vouched for the generated events, not for the four holding ODD_VALUES; only the year-999 event
    # (PostgreSQL writes 0999) went to the reference judge.
    assert sum(vouched) >= 20 and vouched[:3] == [False] * 3 and judged in ([], [4])


def test_a_changed_field_is_reported_alike(chain, monkeypatch):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=12).update(target_label="renamed")
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem) == (12, "edited")
    assert result.detail == "its content does not match its stored hash"


def test_a_changed_float_is_reported_alike(chain, monkeypatch):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=2).update(changes=ODD_VALUES | {"n": 0.2})
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem) == (2, "edited")


def test_a_deleted_event_is_reported_alike(chain, monkeypatch):
    with triggers_bypassed():
        execute("DELETE FROM audit_auditevent WHERE sequence = 4")
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem, result.detail) == (4, "missing", "events 4 are missing (deleted)")


def test_swapped_events_are_reported_alike(chain, monkeypatch):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=9).update(sequence=1000)
        AuditEvent.objects.filter(sequence=10).update(sequence=9)
        AuditEvent.objects.filter(sequence=1000).update(sequence=10)
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem) == (9, "reordered")


def test_a_broken_link_is_reported_alike(chain, monkeypatch):
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence=15).update(prev_hash="e" * 64)
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem) == (15, "edited")


def test_a_rewrite_after_a_checkpoint_is_reported_alike(chain, monkeypatch):
    checkpoints.checkpoint_sign()
    prev_hash = AuditEvent.objects.get(sequence=19).hash
    with triggers_bypassed():
        for event in AuditEvent.objects.filter(sequence__gte=20).order_by("sequence"):
            event.actor_label = "someone-else" if event.sequence == 20 else event.actor_label
            event.prev_hash, event.hash = prev_hash, None
            event.hash = prev_hash = event.compute_hash()
            AuditEvent.objects.filter(pk=event.pk).update(actor_label=event.actor_label, prev_hash=event.prev_hash,
                                                          hash=event.hash)  # fmt: skip
    ChainHead.objects.filter(pk=1).update(hash=prev_hash)
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem, result.checkpoints) == (chain, "rewritten", 1)


def test_a_hash_over_orjsons_own_writing_is_reported_alike(chain, monkeypatch):
    # A forger hashes orjson's text of 0.00001 (the definition writes 1e-05): only the definition's bytes count.
    event = AuditEvent.objects.get(sequence=chain)
    payload = event.hash_payload() | {"changes": {"x": 1e-05}}
    forged = fast_hashing.hashlib.sha256(fast_hashing.orjson.dumps(payload, option=fast_hashing._SORTED)).hexdigest()
    with triggers_bypassed():
        AuditEvent.objects.filter(pk=event.pk).update(changes={"x": 1e-05}, hash=forged)
    ChainHead.objects.filter(pk=1).update(hash=forged)
    result = verified_both_ways(monkeypatch)
    assert (result.bad_sequence, result.problem) == (chain, "edited")
    assert result.detail == "its content does not match its stored hash"
