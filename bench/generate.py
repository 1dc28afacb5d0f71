"""Fast audit data for benchmarks: N valid, chained events without going through record() one by one.

    from bench.generate import generate_events
    first, last = generate_events(100_000)

Events look like what the services write (users and system actors, scoped targets, nested
changes with unicode and floats, request context) and are stored exactly as hashed, so
verify_chain() and exports accept them. Hashes come from apps.audit.hashing; rows go in with
bulk_create in batches, and the chain head moves in the same transaction (the append-only
triggers allow INSERT; the head row is locked like record() locks it).
"""

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

BATCH = 5_000
ACTIONS = (
    "model.updated", "version.created", "version.updated", "request.submitted", "request.step_approved",
    "request.approved", "request.rejected", "deployment.observed", "deployment.drift_detected", "role.granted",
)  # fmt: skip
SOURCES = ("web", "api", "task", "cli")
WORDS = ("Zürich", "scorecard", "drift ✓", "naïve", 'quoted "label"', "línea\nnueva", "東京", "retail", "AUC")


def _event_values(rng: random.Random, sequence: int) -> dict:
    """Column values of one plausible event (without timestamp, links and hash)."""
    team = rng.randint(1, 5)
    model = team * 100 + rng.randint(1, 20)
    system = rng.random() < 0.2
    actor_id = None if system else rng.randint(1, 60)
    word = rng.choice(WORDS)
    changes = {
        "description": [f"{word} {sequence - 1}", f"{word} {sequence}"],
        "score": [round(rng.random(), 4), sequence / 7],
    }
    if sequence % 5 == 0:
        changes["metrics"] = {"auc": rng.random(), "epochs": rng.randint(1, 50), "tags": [word, "v2"]}
    if sequence % 3 == 0:
        changes["owner"] = [None, f"user{actor_id or 0}"]
    return {
        "actor_id": actor_id,
        "actor_label": rng.choice(("git-sync", "scheduler")) if system else f"user{actor_id}",
        "actor_kind": "system" if system else "user",
        "action": rng.choice(ACTIONS),
        "target_type": "inventory.modelversion",
        "target_id": str(sequence),
        "target_label": f"Model {model} {word} 1.{sequence % 10}.0",
        "team_id": team,
        "model_id": model,
        "version_id": sequence if sequence % 2 else None,
        "environment_id": rng.choice((None, 1, 2, 3)),
        "request_id": rng.randint(1, 10_000) if sequence % 4 == 0 else None,
        "changes": changes,
        "context": {
            "request_id": f"{rng.getrandbits(64):016x}",
            "client_ip": f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "source": rng.choice(SOURCES),
        },
    }


def _start_time(head_sequence: int, count: int) -> datetime:
    from apps.audit.models import AuditEvent

    newest = AuditEvent.objects.filter(sequence=head_sequence).values_list("timestamp", flat=True).first()
    # Spread the new events over the time before now, or after the newest event if that is later.
    start = timezone.now() - timedelta(milliseconds=10 * count)
    return max(start, newest + timedelta(microseconds=1)) if newest else start


def generate_events(n: int, start_after_head: bool = True, *, seed: int = 0, batch_size: int = BATCH) -> tuple:
    """Insert `n` chained events and advance the chain head; returns (first, last) sequence.

    start_after_head=True continues the chain from the current head; False starts a new chain at
    sequence 1 from the genesis hash (the table must then be empty).
    """
    from apps.audit import hashing
    from apps.audit.models import SCOPE_FIELDS, AuditEvent, ChainHead

    if n < 1:
        raise ValueError("generate at least one event")
    rng = random.Random(seed)
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        if not start_after_head:
            if AuditEvent.objects.exists():
                raise ValueError("start_after_head=False starts a new chain: the audit table must be empty")
            head.sequence, head.hash = 0, hashing.GENESIS_HASH
        first, prev_hash = head.sequence + 1, head.hash
        moment = _start_time(head.sequence, n)
        batch: list[AuditEvent] = []
        for sequence in range(first, first + n):
            moment += timedelta(microseconds=rng.randint(1_000, 19_000))
            values = _event_values(rng, sequence)
            values["changes"] = hashing.normalize(values["changes"])  # stored exactly as hashed, as record() does
            payload = {key: values[key] for key in hashing.HASHED_FIELDS if key in values}
            payload |= {
                "sequence": sequence,
                "timestamp": hashing.format_timestamp(moment),
                "prev_hash": prev_hash,
                "scope": {name.removesuffix("_id"): values[name] for name in SCOPE_FIELDS if values[name]},
            }
            prev_hash = hashing.compute_hash(payload)
            batch.append(AuditEvent(sequence=sequence, timestamp=moment, prev_hash=payload["prev_hash"],
                                    hash=prev_hash, **values))  # fmt: skip
            if len(batch) >= batch_size:
                AuditEvent.objects.bulk_create(batch)
                batch.clear()
        if batch:
            AuditEvent.objects.bulk_create(batch)
        last = first + n - 1
        ChainHead.objects.filter(pk=1).update(sequence=last, hash=prev_hash, updated_at=moment)
    return first, last
