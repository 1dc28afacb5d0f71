"""Recompute the hash chain and name the first event that does not hold.

Streams the table in sequence order (memory does not grow with its size) and,
only at the first failure, runs one or two lookups to say what happened:
edited, missing, inserted or reordered.
"""

from dataclasses import dataclass

from django.db.models import Max

from . import hashing
from .models import SCOPE_FIELDS, AuditEvent, ChainHead, payload_from_values

_COLUMNS = (*(f for f in hashing.HASHED_FIELDS if f != "scope"), *SCOPE_FIELDS, "hash")


@dataclass(frozen=True)
class Verification:
    ok: bool
    count: int
    head_sequence: int
    head_hash: str
    bad_sequence: int | None = None
    problem: str | None = None  # edited, missing, inserted, reordered
    detail: str = ""

    def __str__(self):
        if self.ok:
            return f"OK: {self.count} events, chain head #{self.head_sequence} {self.head_hash}"
        return f"FAILED at sequence {self.bad_sequence}: {self.problem} — {self.detail}"


def _hash_owner(value: str) -> int | None:
    return AuditEvent.objects.filter(hash=value).values_list("sequence", flat=True).first()


def _next_prev_hash(sequence: int) -> str | None:
    return AuditEvent.objects.filter(sequence=sequence + 1).values_list("prev_hash", flat=True).first()


def _first_beyond_head(head_sequence: int) -> int | None:
    """The first event past the chain head that no append wrote, if there is one.

    Appends that commit while the chain is verified are not tampering: an append moves the
    head in the same transaction as its row, so the head re-read after the rows covers them.
    """
    newest = AuditEvent.objects.filter(sequence__gt=head_sequence).aggregate(newest=Max("sequence"))["newest"]
    if newest is None:
        return None
    current = ChainHead.objects.filter(pk=1).values_list("sequence", flat=True).first() or 0
    if newest <= current:
        return None
    beyond = AuditEvent.objects.filter(sequence__gt=current).order_by("sequence")
    return beyond.values_list("sequence", flat=True).first() or newest


def _diagnose(row: dict, expected: int, prev_hash: str, before_prev_hash: str | None) -> tuple[int, str, str]:
    """Explain the first row that breaks the chain; returns (sequence, problem, detail)."""
    sequence = row["sequence"]
    if sequence > expected:
        last = sequence - 1
        span = f"{expected}" if last == expected else f"{expected}..{last}"
        return expected, "missing", f"events {span} are missing (deleted)"
    if row["prev_hash"] != prev_hash:
        owner = _hash_owner(row["prev_hash"])
        if owner is not None and row["prev_hash"] == before_prev_hash:
            return sequence - 1, "inserted", "the following event links past it: it was inserted into the chain"
        if owner is not None:
            return sequence, "reordered", f"it links to event {owner}, not to event {sequence - 1}"
    if _next_prev_hash(sequence) == prev_hash:
        return sequence, "inserted", "the next event links past this one: it was inserted into the chain"
    computed = hashing.compute_hash(payload_from_values(row))
    if row["prev_hash"] != prev_hash and computed == row["hash"] and sequence > 1:
        return sequence - 1, "edited", f"it was rewritten: event {sequence} links to a hash no event has"
    if computed != row["hash"]:
        return sequence, "edited", "its content does not match its stored hash"
    return sequence, "edited", "its link to the previous event is broken"


def verify_chain(chunk_size: int = 2000) -> Verification:
    # Verify up to the head as read now; events appended meanwhile are left to the next run.
    head = ChainHead.objects.filter(pk=1).first() or ChainHead()
    expected, prev_hash, before_prev_hash, count = 1, hashing.GENESIS_HASH, None, 0
    rows = AuditEvent.objects.filter(sequence__lte=head.sequence).order_by("sequence").values(*_COLUMNS)
    rows = rows.iterator(chunk_size=chunk_size)
    for row in rows:
        intact = (
            row["sequence"] == expected
            and row["prev_hash"] == prev_hash
            and hashing.compute_hash(payload_from_values(row)) == row["hash"]
        )
        if not intact:
            bad, problem, detail = _diagnose(row, expected, prev_hash, before_prev_hash)
            return Verification(False, count, head.sequence, head.hash, bad, problem, detail)
        before_prev_hash, prev_hash = prev_hash, row["hash"]
        expected += 1
        count += 1
    last = expected - 1
    if head.sequence > last:
        span = f"{last + 1}" if head.sequence == last + 1 else f"{last + 1}..{head.sequence}"
        detail = f"events {span} are missing: the chain head records {head.sequence}"
        return Verification(False, count, head.sequence, head.hash, last + 1, "missing", detail)
    if head.hash != prev_hash:
        return Verification(False, count, head.sequence, head.hash, last, "edited", "the chain head hash differs")
    inserted = _first_beyond_head(head.sequence)
    if inserted is not None:
        detail = f"the chain head records {head.sequence}; events from {inserted} on were inserted after it"
        return Verification(False, count, head.sequence, head.hash, inserted, "inserted", detail)
    return Verification(True, count, head.sequence, head.hash)
