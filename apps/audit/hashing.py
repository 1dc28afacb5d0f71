"""The canonical encoding and hash of an audit event.

Pure standard library on purpose: offline verifiers re-implement exactly this.

canonical = JSON with sorted keys, no whitespace, UTF-8, no NaN/Infinity, and
every integral number written as an integer (so a value survives a round trip
through PostgreSQL jsonb or SQLite text unchanged). hash = SHA-256 hex of it.

`canonical_bytes` and `compute_hash` are the definition. The fast path below
(`loads_normalized`, `encode_normalized`, `hash_normalized`) is what the chain
verifier runs per row; it produces the same bytes (tests/audit/test_hashing.py
compares both on many random values) by doing the same work in C: `normalize`
happens while JSON text is parsed, and the encoder is the one json.dumps uses
with the same options, bound once instead of rebuilt per call.
"""

import hashlib
import json
import math
from datetime import UTC, datetime
from json import encoder as _json_encoder

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


# The fast path. Same results as the functions above, for the values the verifier meets.


def _parse_float(text: str):
    # normalize() applied to the float json.loads would have built from `text`.
    value = float(text)
    if value.is_integer():
        return int(value)
    if not math.isfinite(value):
        raise ValueError("audit values cannot be NaN or infinite")
    return value


def _refuse_constant(name: str):
    raise ValueError("audit values cannot be NaN or infinite")


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_refuse_constant)
_scan_once = _DECODER.scan_once


def loads_normalized(text: str):
    """normalize(json.loads(text)) in one C pass: integral floats become ints as they are parsed."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:  # leading whitespace, or not JSON: the full decoder decides (and explains)
        return _DECODER.decode(text)
    # A value that starts at 0 and ends at the end is exactly what decode() returns; otherwise let it decide.
    return value if end == len(text) else _DECODER.decode(text)


def _refuse_value(value):
    raise TypeError(f"not a JSON value: {type(value).__name__}")


if _json_encoder.c_make_encoder is not None:
    # json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False) builds
    # exactly this encoder on every call (plus a dict that detects cycles, which parsed JSON cannot have).
    _encode = _json_encoder.c_make_encoder(
        None, _refuse_value, _json_encoder.c_encode_basestring, None, ":", ",", True, False, False
    )

    def encode_normalized(value, _join="".join) -> str:
        """The canonical JSON text of an already normalized value (canonical_bytes without normalize())."""
        return _join(_encode(value, 0))

    def hash_normalized(payload: dict, _join="".join, _sha256=hashlib.sha256) -> str:
        """compute_hash() of a payload whose values are already normalized and that holds exactly HASHED_FIELDS."""
        return _sha256(_join(_encode(payload, 0)).encode("utf-8")).hexdigest()

else:  # pragma: no cover - Python builds without the C accelerator

    def encode_normalized(value) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def hash_normalized(payload: dict) -> str:
        return hashlib.sha256(encode_normalized(payload).encode("utf-8")).hexdigest()


def format_timestamp_utc(value: datetime) -> str:
    """format_timestamp() of a UTC time given as a naive datetime (as a database returns it), in half the time."""
    text = value.isoformat()
    # isoformat() writes the same fixed-width fields as strftime, except that it pads years below 1000
    # and leaves out zero microseconds: those (and aware values) take the reference path.
    if len(text) == 26 and "1" <= text[0] <= "9":  # naive, with microseconds, year 1000 or later
        return text + "Z"
    return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))
