"""The canonical encoding and hash of an audit event.

Pure standard library on purpose: offline verifiers re-implement exactly this.

canonical = JSON with sorted keys, no whitespace, UTF-8, no NaN/Infinity, and
every integral number written as an integer (so a value survives a round trip
through PostgreSQL jsonb or SQLite text unchanged). hash = SHA-256 hex of it.
"""

import hashlib
import json
import math
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "sequence",
    "timestamp",
    "actor_id",
    "actor_label",
    "actor_kind",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "scope",
    "changes",
    "context",
    "prev_hash",
)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC with microseconds and a Z: the one textual form of event time."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize(value):
    """Integral floats become ints; non-finite floats are refused; tuples become lists."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("audit values cannot be NaN or infinite")
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(key): normalize(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_bytes(payload: dict) -> bytes:
    return json.dumps(
        normalize(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_hash(payload: dict) -> str:
    missing = set(HASHED_FIELDS) - payload.keys()
    if missing:
        raise ValueError(f"payload lacks {sorted(missing)}")
    return hashlib.sha256(canonical_bytes({key: payload[key] for key in HASHED_FIELDS})).hexdigest()
