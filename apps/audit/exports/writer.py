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

from django.conf import settings
from django.utils import timezone

from .. import hashing, signing
from ..models import SCOPE_FIELDS, AuditCheckpoint, ChainHead, payload_from_values

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


def _csv_row(row: dict) -> list:
    context = row["context"] or {}
    return [
        row["sequence"], hashing.format_timestamp(row["timestamp"]), row["actor_label"], row["actor_kind"],
        row["actor_id"] if row["actor_id"] is not None else "", row["action"], row["target_type"], row["target_id"],
        row["target_label"], json.dumps(row["changes"], sort_keys=True, ensure_ascii=False),
        context.get("request_id", ""), context.get("client_ip", ""), context.get("source", ""),
        *("" if row[name] is None else row[name] for name in SCOPE_FIELDS), row["hash"], row["prev_hash"],
    ]  # fmt: skip


def csv_chunks(queryset, tally: Tally) -> Iterator[bytes]:
    """RFC 4180 CSV (CRLF line ends, quoted as needed), UTF-8, a header row, ISO 8601 UTC times."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    pending = 0
    for row in rows(queryset):
        writer.writerow(_csv_row(row))
        tally.add_event(row["sequence"])
        pending += 1
        if pending >= CHUNK:
            yield tally.add_bytes(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield tally.add_bytes(buffer.getvalue().encode("utf-8"))


def jsonl_chunks(queryset, tally: Tally) -> Iterator[bytes]:
    """One event per line (sorted keys, compact, UTF-8); the signed manifest line is added by finish()."""
    lines: list[str] = []
    for row in rows(queryset):
        lines.append(json.dumps(jsonl_event(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        tally.add_event(row["sequence"])
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
