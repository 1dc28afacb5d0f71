"""Audit exports as byte streams: CSV and JSON Lines, written chunk by chunk from a server-side cursor.

Memory stays flat whatever the size: rows come `CHUNK` at a time and each chunk is
encoded and handed on before the next is read. The running SHA-256, count and
sequence ranges feed the signed manifest that ends every export.
"""

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC

from django.conf import settings
from django.db import connections
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from apps.audit import hashing, signing
from apps.audit.models import SCOPE_FIELDS, AuditCheckpoint, ChainHead, payload_from_values

CHUNK = 2000
VALUE_COLUMNS = (*(f for f in hashing.HASHED_FIELDS if f != "scope"), *SCOPE_FIELDS, "hash")
CSV_HEADER = (
    "sequence", "timestamp", "actor", "actor_kind", "actor_id", "action", "target_type", "target_id", "target",
    "changes", "request_id", "client_ip", "source", "team_id", "model_id", "version_id", "environment_id",
    "deployment_request_id", "hash", "prev_hash",
)  # fmt: skip


class Tally:
    """What the manifest states about the bytes and events written so far."""

    def __init__(self):
        self.sha256 = hashlib.sha256()
        self.count = 0
        self.ranges: list[list[int]] = []

    def add_event(self, sequence: int) -> None:
        self.count += 1
        if self.ranges and self.ranges[-1][1] == sequence - 1:
            self.ranges[-1][1] = sequence
        else:
            self.ranges.append([sequence, sequence])

    def add_bytes(self, data: bytes) -> bytes:
        self.sha256.update(data)
        return data


def rows(queryset) -> Iterator[dict]:
    """Event rows oldest first, through a server-side cursor (PostgreSQL) in CHUNK-sized fetches."""
    return queryset.order_by("sequence").values(*VALUE_COLUMNS).iterator(chunk_size=CHUNK)


def jsonl_event(row: dict) -> dict:
    """Every field needed to recompute the event's hash, as hashed, plus the hash."""
    return payload_from_values(row) | {"hash": row["hash"]}


# The exports themselves read plain tuples and build each line directly: the same bytes as jsonl_event() and the
# CSV columns above, at a fraction of the cost per event. The JSON columns come as text (a cast, so the ORM runs
# no per-value converters on PostgreSQL) and are decoded here.
_TEXT_COLUMNS = tuple(f"{name}_text" if name in ("changes", "context") else name for name in VALUE_COLUMNS)
_AT = {name: index for index, name in enumerate(VALUE_COLUMNS)}
_SCOPE_AT = tuple((name.removesuffix("_id"), _AT[name]) for name in SCOPE_FIELDS)
_PLAIN_AT = tuple((name, _AT[name]) for name in hashing.HASHED_FIELDS
                  if name not in ("scope", "timestamp", "changes", "context"))  # fmt: skip
_CHANGES_AT, _CONTEXT_AT = _AT["changes"], _AT["context"]
_decode = json.JSONDecoder().raw_decode  # the database holds valid JSON with no leading whitespace


def _tuples(queryset) -> Iterator[tuple]:
    """Rows as tuples in VALUE_COLUMNS order (changes and context as JSON text), oldest first, through a
    server-side cursor in CHUNK-sized fetches."""
    queryset = queryset.order_by("sequence").annotate(
        changes_text=Cast("changes", TextField()), context_text=Cast("context", TextField())
    )
    return queryset.values_list(*_TEXT_COLUMNS).iterator(chunk_size=CHUNK)


def _json(text: str | None):
    return None if text is None else _decode(text)[0]


def _timestamp(value) -> str:
    """hashing.format_timestamp(value), through isoformat() when the value is already UTC (the usual case)."""
    if value.tzinfo is UTC and value.year >= 1000:
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    return hashing.format_timestamp(value)


def _jsonl_line(row: tuple) -> str:
    event = {name: row[index] for name, index in _PLAIN_AT}
    event["changes"], event["context"] = _json(row[_CHANGES_AT]), _json(row[_CONTEXT_AT])
    event["timestamp"] = _timestamp(row[_AT["timestamp"]])
    event["scope"] = {name: row[index] for name, index in _SCOPE_AT if row[index]}
    event["hash"] = row[_AT["hash"]]
    return _dumps_line(event)


_dumps_line = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_dumps_changes = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


_CSV_SOURCE = ("sequence", "timestamp", "actor_id", "actor_label", "actor_kind", "action", "target_type", "target_id",
               "target_label", "changes", "context", "prev_hash", *SCOPE_FIELDS, "hash")  # fmt: skip
if VALUE_COLUMNS != _CSV_SOURCE:  # _csv_row unpacks rows in this order
    raise ImportError(f"writer: VALUE_COLUMNS changed to {VALUE_COLUMNS}; update _csv_row")


# A spreadsheet runs a cell starting with = + - @ (or tab, CR) as a formula: such a cell gets a leading ' (OWASP).
# So does one that already starts with ', so that dropping one leading ' always gives back the recorded text.
FORMULA_START = frozenset("=+-@\t\r'")


def neutralise(value):
    """A text cell as a spreadsheet shows it without running it; anything else as it is."""
    if isinstance(value, str) and value[:1] in FORMULA_START:
        return "'" + value
    return value


def _csv_row(row: tuple) -> tuple:
    (sequence, timestamp, actor_id, actor_label, actor_kind, action, target_type, target_id, target_label, changes,
     context, prev_hash, team_id, model_id, version_id, environment_id, request_id, hash_) = row  # fmt: skip
    context = _json(context) or {}
    # Numbers, the timestamp, hashes and the changes (JSON text of an object: it starts with "{") are safe as they are.
    return (
        sequence, _timestamp(timestamp), neutralise(actor_label), neutralise(actor_kind),
        "" if actor_id is None else actor_id, neutralise(action), neutralise(target_type), neutralise(target_id),
        neutralise(target_label), _dumps_changes(_json(changes)), neutralise(context.get("request_id", "")),
        neutralise(context.get("client_ip", "")), neutralise(context.get("source", "")),
        "" if team_id is None else team_id, "" if model_id is None else model_id,
        "" if version_id is None else version_id,
        "" if environment_id is None else environment_id, "" if request_id is None else request_id, hash_, prev_hash,
    )  # fmt: skip


def csv_chunks(queryset, tally: Tally) -> Iterator[bytes]:
    """RFC 4180 CSV (CRLF line ends, quoted as needed), UTF-8, a header row, ISO 8601 UTC times; text cells that a
    spreadsheet would run as a formula start with a ' (see neutralise()).

    On PostgreSQL the server writes most cells (fast_csv, the same bytes at several times the speed)."""
    if connections[queryset.db].vendor == "postgresql":
        from . import fast_csv  # it builds on this module

        return fast_csv.csv_chunks(queryset, tally)
    return python_csv_chunks(queryset, tally)


def python_csv_chunks(queryset, tally: Tally) -> Iterator[bytes]:
    """csv_chunks() written row by row in Python: the definition fast_csv is held to, and the SQLite path."""
    pending: list[tuple] = [CSV_HEADER]  # the first chunk starts with the header
    count = 0
    for row in _tuples(queryset):
        pending.append(_csv_row(row))
        tally.add_event(row[0])
        count += 1
        if count == CHUNK:
            yield tally.add_bytes(_csv_bytes(pending))
            pending.clear()
            count = 0
    yield tally.add_bytes(_csv_bytes(pending))


def _csv_bytes(rows: list[tuple]) -> bytes:
    # A fresh StringIO per chunk: one that is emptied and reused writes markedly slower.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def jsonl_chunks(queryset, tally: Tally) -> Iterator[bytes]:
    """One event per line (sorted keys, compact, UTF-8); the signed manifest line is added by finish()."""
    lines: list[str] = []
    for row in _tuples(queryset):
        lines.append(_jsonl_line(row))
        tally.add_event(row[0])
        if len(lines) >= CHUNK:
            yield tally.add_bytes(("\n".join(lines) + "\n").encode("utf-8"))
            lines.clear()
    if lines:
        yield tally.add_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def build_manifest(*, export, tally: Tally) -> tuple[dict, str]:
    """The signed statement of what this export holds."""
    head = ChainHead.objects.filter(pk=1).first() or ChainHead()
    first = tally.ranges[0][0] if tally.ranges else None
    last = tally.ranges[-1][1] if tally.ranges else None
    checkpoints = []
    if first is not None:
        in_range = AuditCheckpoint.objects.filter(sequence__gte=first, sequence__lte=last).order_by("created_at", "pk")
        checkpoints = [c.signed_payload() | {"signature": c.signature} for c in in_range]
    manifest = {
        "export_id": str(export.pk),
        "format": export.format,
        "portal": settings.PORTAL_BASE_URL,
        "generated_at": hashing.format_timestamp(timezone.now()),
        "generated_by": export.requested_by.get_username(),
        "filters": export.filters,
        "event_count": tally.count,
        "first_sequence": first,
        "last_sequence": last,
        "ranges": tally.ranges,
        "chain_head": {"sequence": head.sequence, "hash": head.hash},
        "file_sha256": tally.sha256.hexdigest(),
        "checkpoints": checkpoints,
        "key_id": signing.key_id(),
        "hash_algorithm": "sha256 over canonical JSON (sorted keys, compact, UTF-8, integral numbers as integers)",
    }
    return manifest, signing.sign(manifest)


def manifest_line(manifest: dict, signature: str) -> bytes:
    return (json.dumps({"manifest": manifest, "signature": signature}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False) + "\n").encode("utf-8")  # fmt: skip
