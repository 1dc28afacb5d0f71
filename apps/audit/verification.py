"""Recompute the hash chain, name the first event that does not hold, then check the signed checkpoints.

Streams the table in sequence order (memory does not grow with its size) as plain tuples
from one raw query, hashing each row at C speed (apps.audit.fast_hashing: orjson, or the
standard library's fast path where orjson cannot vouch for the bytes). A row the fast path
does not vouch for (a hash mismatch, a broken link, or a value of an unexpected type) is
re-read through the ORM and judged by the reference definition (`hashing.compute_hash`),
which also says what happened: edited, missing, inserted or reordered. So the fast path can
only make verification quicker, never more lenient.

Signed checkpoints then catch what the chain alone cannot: someone who recomputed every
hash from some event on and moved the chain head to match ("rewritten").
"""

import contextlib
import itertools
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Max

from . import fast_hashing, hashing, signing
from .models import SCOPE_FIELDS, AuditCheckpoint, AuditEvent, ChainHead, payload_from_values

logger = logging.getLogger(__name__)

_COLUMNS = (*(f for f in hashing.HASHED_FIELDS if f != "scope"), *SCOPE_FIELDS, "hash")
_TABLE = AuditEvent._meta.db_table
_SCAN_COLUMNS = (
    "SELECT id, sequence, {timestamp}, actor_id, actor_label, actor_kind, action, target_type, target_id, "
    "target_label, environment_id, model_id, request_id, team_id, version_id, {changes}, {context}, prev_hash, hash, "
    "{odd}"
)
# SQLite stores any type in any column: a number column holding a float or text is "odd" and goes to the
# reference path (the fast path passes numbers through without normalize()).
_SQLITE_ODD = " OR ".join(
    f"typeof({column}) NOT IN ('integer', 'null')"
    for column in ("sequence", "actor_id", "environment_id", "model_id", "request_id", "team_id", "version_id")
)
# PostgreSQL writes the time as hashing.format_timestamp() does, for years 1000 to 9999 (outside them its year has
# another width than Python's: odd, so the reference path judges).
_PG_TIMESTAMP = """to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_PG_ODD = "NOT (timestamp >= '1000-01-01T00:00:00Z' AND timestamp < '10000-01-01T00:00:00Z')"
_SCAN_SQL = {
    # The time and JSON as text: no per-value Python callbacks in the driver.
    "postgresql": _SCAN_COLUMNS.format(
        timestamp=_PG_TIMESTAMP, changes="changes::text", context="context::text", odd=_PG_ODD
    ),
    "sqlite": _SCAN_COLUMNS.format(timestamp="timestamp", changes="changes", context="context", odd=_SQLITE_ODD),
}
# What makes the scanned timestamp column the hashed text.
_STAMP = {"postgresql": str, "sqlite": hashing.format_timestamp_utc}
_SCAN_WHERE = f" FROM {_TABLE} WHERE sequence > %s AND sequence <= %s ORDER BY sequence"


@dataclass(frozen=True)
class Verification:
    ok: bool
    count: int
    head_sequence: int
    head_hash: str
    bad_sequence: int | None = None
    problem: str | None = None  # edited, missing, inserted, reordered; rewritten, forged (checkpoints)
    detail: str = ""
    checkpoints: int = 0

    def __str__(self):
        if not self.ok:
            return f"FAILED at sequence {self.bad_sequence}: {self.problem} — {self.detail}"
        text = f"OK: {self.count} events, chain head #{self.head_sequence} {self.head_hash}"
        if self.checkpoints:
            text += f", {self.checkpoints} signed checkpoint{'s' if self.checkpoints > 1 else ''} checked"
        return text


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


def _reference_hash(row: dict) -> str | None:
    try:
        return hashing.compute_hash(payload_from_values(row))
    except (ValueError, TypeError, AttributeError):  # a stored value no append could have written
        return None


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
    computed = _reference_hash(row)
    if row["prev_hash"] != prev_hash and computed == row["hash"] and sequence > 1:
        return sequence - 1, "edited", f"it was rewritten: event {sequence} links to a hash no event has"
    if computed != row["hash"]:
        return sequence, "edited", "its content does not match its stored hash"
    return sequence, "edited", "its link to the previous event is broken"


def _check_row(pk, expected: int, prev_hash: str, before_prev_hash: str | None) -> tuple[int, str, str] | None:
    """The reference judgement of one row the fast path did not vouch for: None if it holds."""
    row = AuditEvent.objects.filter(pk=pk).values(*_COLUMNS).first()
    if row is None:  # gone since it was read: only a forger deletes
        return expected, "missing", f"event {expected} disappeared while the chain was verified"
    if row["sequence"] == expected and row["prev_hash"] == prev_hash and _reference_hash(row) == row["hash"]:
        return None
    return _diagnose(row, expected, prev_hash, before_prev_hash)


@dataclass
class _Scan:
    """Where a scan of (part of) the chain got to."""

    count: int = 0
    prev_hash: str = hashing.GENESIS_HASH  # the hash of the last event checked
    failure: tuple[int, str, str] | None = None
    seen: dict = field(default_factory=dict)  # sequence -> hash, for the watched (checkpointed) sequences
    first_prev_hash: str = hashing.GENESIS_HASH  # what the first event links to


def _scan(lo: int, hi: int, prev_hash: str, watch: list[int], chunk_size: int, judge=_check_row) -> _Scan:
    """Check events lo+1..hi in order, the first linking to `prev_hash`; `judge` rules on rows the fast path
    does not vouch for (None: the row holds). Records the hashes of the `watch` sequences (sorted)."""
    state = _Scan()
    expected, before_prev_hash = lo + 1, None
    watched = iter(watch)
    next_watch = next(watched, None)
    digest_of, stamp = fast_hashing.payload_digest, _STAMP[connection.vendor]
    # On PostgreSQL a transaction lets the server-side cursor stream (outside one it is WITH HOLD, and the server
    # materialises the whole result first); on SQLite one would take the write lock (IMMEDIATE) and stall appends.
    streaming = transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()
    with streaming, connection.chunked_cursor() as cursor:
        cursor.execute(_SCAN_SQL[connection.vendor] + _SCAN_WHERE, [lo, hi])
        while rows := cursor.fetchmany(chunk_size):
            for (
                pk, sequence, timestamp, actor_id, actor_label, actor_kind, action, target_type, target_id,
                target_label, environment, model, request, team, version, changes, context, row_prev, row_hash, odd,
            ) in rows:  # fmt: skip
                try:
                    scope = {}
                    if environment:
                        scope["environment"] = environment
                    if model:
                        scope["model"] = model
                    if request:
                        scope["request"] = request
                    if team:
                        scope["team"] = team
                    if version:
                        scope["version"] = version
                    # _FAST_FIELDS, in sorted order: the encoder's sort then has nothing to move.
                    payload = {
                        "action": action, "actor_id": actor_id, "actor_kind": actor_kind, "actor_label": actor_label,
                        "changes": None, "context": None, "prev_hash": row_prev, "scope": scope, "sequence": sequence,
                        "target_id": target_id, "target_label": target_label, "target_type": target_type,
                        "timestamp": stamp(timestamp),
                    }  # fmt: skip
                    digest = digest_of(payload, changes, context)
                except (ValueError, TypeError, AttributeError):  # the reference path decides
                    digest = None
                if digest != row_hash or odd or sequence != expected or row_prev != prev_hash:
                    failure = judge(pk, expected, prev_hash, before_prev_hash)
                    if failure is not None:
                        state.count, state.prev_hash, state.failure = expected - lo - 1, prev_hash, failure
                        return state
                if sequence == next_watch:
                    state.seen[sequence] = row_hash
                    next_watch = next(watched, None)
                before_prev_hash, prev_hash = prev_hash, row_hash
                expected += 1
    state.count, state.prev_hash = expected - lo - 1, prev_hash
    return state


_FAST_FIELDS = ("action", "actor_id", "actor_kind", "actor_label", "changes", "context", "prev_hash", "scope",
                "sequence", "target_id", "target_label", "target_type", "timestamp")  # fmt: skip
if set(_FAST_FIELDS) != set(hashing.HASHED_FIELDS):  # _scan builds the payload field by field
    raise ImportError("verification: hashing.HASHED_FIELDS changed; update _scan and _SCAN_SQL")


# Parallel verification (audit_verify --workers): each process hashes one range of sequences; the ranges are
# then stitched by their links. Any doubt, and the sequential scan above runs and explains what it finds.

MIN_SEGMENT = 50_000  # below this many events per process, starting processes costs more than it saves


def _suspect(pk, expected, prev_hash, before_prev_hash):
    return expected, "suspect", "left to the sequential scan"


def _verify_segment(lo: int, hi: int, watch: list[int], chunk_size: int) -> _Scan | None:
    """In a worker process: events lo+1..hi, hashed and linked among themselves; None at the first doubt."""
    try:
        first = AuditEvent.objects.filter(sequence=lo + 1).values_list("prev_hash", flat=True).first()
        if first is None:
            return None
        state = _scan(lo, hi, first, watch, chunk_size, judge=_suspect)
        if state.failure is not None or state.count != hi - lo:
            return None
        state.first_prev_hash = first
        return state
    finally:
        connection.close()


def _can_fork(workers: int, head_sequence: int) -> bool:
    return (
        workers > 1
        and head_sequence >= 2 * MIN_SEGMENT
        and not connection.in_atomic_block  # workers could not see uncommitted rows
        and not (connection.vendor == "sqlite" and connection.is_in_memory_db())
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon  # e.g. a Celery prefork worker
    )


def _scan_parallel(head_sequence: int, watch: list[int], chunk_size: int, workers: int) -> _Scan | None:
    """The whole chain checked by `workers` processes, or None when anything needs the sequential scan."""
    workers = min(workers, head_sequence // MIN_SEGMENT)
    bounds = [head_sequence * n // workers for n in range(workers + 1)]
    connection.close()  # each process opens its own; a forked copy of this one would be shared
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            jobs = [
                pool.submit(_verify_segment, lo, hi, [s for s in watch if lo < s <= hi], chunk_size)
                for lo, hi in itertools.pairwise(bounds)
            ]
            segments = [job.result() for job in jobs]
    except Exception:
        logger.exception("parallel audit verification failed; verifying sequentially")
        return None
    whole = _Scan(count=head_sequence)
    for segment in segments:
        if segment is None or segment.first_prev_hash != whole.prev_hash:
            return None
        whole.prev_hash = segment.prev_hash
        whole.seen.update(segment.seen)
    return whole


def _at(checkpoint: AuditCheckpoint) -> str:
    return hashing.format_timestamp(checkpoint.created_at)


def _check_checkpoints(checkpoints: list[AuditCheckpoint], head_sequence: int, seen: dict):
    """The first checkpoint that does not hold, as (sequence, problem, detail), or None."""
    prior_signature, matched = "", None
    for checkpoint in checkpoints:
        signed = f"the checkpoint signed at {_at(checkpoint)}"
        if not signing.verify(checkpoint.signed_payload(), checkpoint.signature):
            key = "" if checkpoint.key_id == signing.key_id() else f" (it names key {checkpoint.key_id})"
            return checkpoint.sequence, "forged", f"{signed} does not verify with the portal's key{key}"
        if checkpoint.prev_signature != prior_signature:
            return checkpoint.sequence, "forged", f"{signed} does not link to the checkpoint before it"
        prior_signature = checkpoint.signature
        if checkpoint.sequence > head_sequence:
            detail = (
                f"{signed} records {checkpoint.sequence} events; the chain head records {head_sequence}: "
                "events were removed and the head moved back"
            )
            return head_sequence + 1, "missing", detail
        if seen.get(checkpoint.sequence) != checkpoint.head_hash:
            since = f" after event {matched[0]}, which the checkpoint of {matched[1]} still matches," if matched else ""
            detail = (
                f"its hash differs from the one signed in the checkpoint of {_at(checkpoint)}: "
                f"the chain was rewritten{since} up to this event and re-linked"
            )
            return checkpoint.sequence, "rewritten", detail
        matched = (checkpoint.sequence, _at(checkpoint))
    return None


def verify_chain(chunk_size: int = 5000, workers: int = 1) -> Verification:
    """Verify every event up to the chain head as read now, then every signed checkpoint.

    Events appended meanwhile are left to the next run. Checkpoints are read before the head,
    so every one of them was signed over a head no later than the one verified.

    workers > 1 hashes a large chain in that many processes (forked: only from a process that
    may fork, outside a transaction, e.g. `manage.py audit_verify`); the result is the same.
    """
    checkpoints = list(AuditCheckpoint.objects.order_by("created_at", "pk"))
    head = ChainHead.objects.filter(pk=1).first() or ChainHead()
    watch = sorted({c.sequence for c in checkpoints if 0 < c.sequence <= head.sequence})
    scan = _scan_parallel(head.sequence, watch, chunk_size, workers) if _can_fork(workers, head.sequence) else None
    if scan is None:
        scan = _scan(0, head.sequence, hashing.GENESIS_HASH, watch, chunk_size)
    count, seen = scan.count, scan.seen
    if scan.failure is not None:
        return Verification(False, count, head.sequence, head.hash, *scan.failure)
    if head.sequence > count:
        span = f"{count + 1}" if head.sequence == count + 1 else f"{count + 1}..{head.sequence}"
        detail = f"events {span} are missing: the chain head records {head.sequence}"
        return Verification(False, count, head.sequence, head.hash, count + 1, "missing", detail)
    if head.hash != scan.prev_hash:
        return Verification(False, count, head.sequence, head.hash, count, "edited", "the chain head hash differs")
    inserted = _first_beyond_head(head.sequence)
    if inserted is not None:
        detail = f"the chain head records {head.sequence}; events from {inserted} on were inserted after it"
        return Verification(False, count, head.sequence, head.hash, inserted, "inserted", detail)
    failure = _check_checkpoints(checkpoints, head.sequence, seen)
    if failure is not None:
        return Verification(False, count, head.sequence, head.hash, *failure, checkpoints=len(checkpoints))
    return Verification(True, count, head.sequence, head.hash, checkpoints=len(checkpoints))
