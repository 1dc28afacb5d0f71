#!/usr/bin/env python3
"""Verify a GovPortal audit export offline: no portal, no Django, no database.

    python clients/verify_audit.py export.jsonl --public-key govportal-audit.pub
    python clients/verify_audit.py export.csv --manifest export.csv.manifest.json --public-key govportal-audit.pub

JSON Lines carry their signed manifest as the last line and every field of every event, so the
chain itself is checked, in order, stopping at the first failure (exit 1, naming it):
  1. the manifest (last line) is signed by the portal's Ed25519 key;
  2. every event's hash recomputes from its fields (canonical JSON, SHA-256);
  3. sequences increase; where they are contiguous, each event's prev_hash is the previous event's hash;
  4. the sequence ranges in the file are exactly the manifest's: a gap the manifest also has is
     reported as "events N..M not included (filtered)"; a gap it does not have is a missing event;
  5. the event count and the SHA-256 of every line before the manifest match the manifest;
  6. every signed checkpoint in the manifest is validly signed, links to the previous
     checkpoint's signature, and names the hash of its event when that event is in the file.

Every other export (CSV, PDF report, model dossier) is checked against the detached manifest the
portal offers beside it (the export page's "Download the signed manifest", saved by default as
<file>.manifest.json next to the file): the manifest's signature, the file's SHA-256 against the
manifest's file_sha256, and the manifest's checkpoints (1, 5 and 6 above). A CSV or PDF does not
hold every hashed field, so the chain itself is verified from the JSON Lines export.

Needs Python 3.9+ and the `cryptography` package. Exit status: 0 verified, 1 failed (or no manifest), 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import json
import math
import os
import sys

HASHED_FIELDS = (
    "sequence", "timestamp", "actor_id", "actor_label", "actor_kind", "action", "target_type", "target_id",
    "target_label", "scope", "changes", "context", "prev_hash",
)  # fmt: skip


class Failure(Exception):
    def __init__(self, message, sequence=None):
        super().__init__(message)
        self.sequence = sequence


def normalize(value):
    """Integral floats become ints (as the portal hashes them); NaN/Infinity are invalid."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN or infinite number")
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def canonical(value) -> bytes:
    return json.dumps(normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")  # fmt: skip


# Events are parsed with _strict_float and _refuse_constant, so they are already normalized: no walk needed.
_canonical_event = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def event_hash(event: dict) -> str:
    missing = [field for field in HASHED_FIELDS if field not in event]
    if missing:
        raise Failure(f"event lacks {', '.join(missing)}", event.get("sequence"))
    return hashlib.sha256(_canonical_event({field: event[field] for field in HASHED_FIELDS}).encode()).hexdigest()


def load_public_key(path: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    with open(path, "rb") as handle:
        data = handle.read()
    key = load_pem_public_key(data) if data.lstrip().startswith(b"-----") else \
        Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip()))  # fmt: skip
    if not isinstance(key, Ed25519PublicKey):
        raise SystemExit("verify_audit: the public key is not an Ed25519 key")
    return key


def check_signature(key, payload: dict, signature_b64: str, what: str) -> None:
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(base64.b64decode(signature_b64, validate=True), canonical(payload))
    except (InvalidSignature, ValueError, TypeError):
        raise Failure(f"{what}: the signature does not verify with this public key") from None


def _strict_float(text: str):
    """JSON numbers with a fraction or exponent, as the portal hashes them: integral ones as integers."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("NaN or infinite number")
    return int(value) if value.is_integer() else value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid in an audit export")


def _read_trailer(handle) -> tuple[bytes, int]:
    """(the last line, the byte offset where it starts), reading backwards from the end of the file."""
    size = handle.seek(0, 2)
    if size == 0:
        raise Failure("the file is empty")
    handle.seek(size - 1)
    end = size - 1 if handle.read(1) == b"\n" else size
    tail, position = b"", end
    while position > 0:
        step = min(1 << 16, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        newline = tail.rfind(b"\n")
        if newline >= 0:
            return tail[newline + 1 :], position + newline + 1
    return tail, 0


def verify(path: str, key) -> tuple[int, list[str]]:
    """Return (events verified, notes) or raise Failure. Reads the file line by line: memory stays flat."""
    with open(path, "rb") as handle:
        trailer_line, body_end = _read_trailer(handle)
        try:
            trailer = json.loads(trailer_line)
            manifest, signature = trailer["manifest"], trailer["signature"]
        except (ValueError, KeyError, TypeError):
            raise Failure("the last line is not a signed manifest") from None
        check_signature(key, manifest, signature, "manifest")
        checkpoints = manifest.get("checkpoints", [])
        wanted = {checkpoint.get("sequence") for checkpoint in checkpoints if isinstance(checkpoint, dict)}
        handle.seek(0)
        count, ranges, hashes, body_sha256 = _check_events(handle, body_end, wanted)

    notes = []
    expected_ranges = manifest.get("ranges", [])
    if ranges != expected_ranges:
        missing = _first_missing(expected_ranges, ranges)
        if missing is not None:
            raise Failure(f"event {missing} is missing: the manifest says the export includes it", missing)
        raise Failure("the events in the file are not the ones the manifest lists")
    for index in range(1, len(ranges)):  # not itertools.pairwise: the verifier runs on Python 3.9
        last, first = ranges[index - 1][1], ranges[index][0]
        span = str(last + 1) if first - 1 == last + 1 else f"{last + 1}..{first - 1}"
        notes.append(f"events {span} not included (filtered)")
    if count != manifest.get("event_count"):
        raise Failure(f"the manifest says {manifest.get('event_count')} events; the file has {count}")
    if body_sha256 != manifest.get("file_sha256"):
        raise Failure("the file's SHA-256 does not match the manifest: the file was changed")

    check_checkpoints(key, checkpoints, hashes)
    return count, notes


def check_checkpoints(key, checkpoints: list, hashes: dict) -> None:
    """Each checkpoint is signed and links to the one before; an event in `hashes` must match its checkpoint."""
    prior_signature = None
    for checkpoint in checkpoints:
        try:
            body = {name: checkpoint[name] for name in ("sequence", "head_hash", "created_at", "prev_signature")}
            signature = checkpoint["signature"]
        except (KeyError, TypeError):
            raise Failure("a checkpoint in the manifest lacks its fields") from None
        check_signature(key, body, signature, f"checkpoint at {checkpoint['sequence']}")
        if prior_signature is not None and checkpoint["prev_signature"] != prior_signature:
            raise Failure(f"checkpoint at {checkpoint['sequence']} does not link to the previous checkpoint")
        prior_signature = signature
        expected = hashes.get(checkpoint["sequence"])
        if expected is not None and expected != checkpoint["head_hash"]:
            raise Failure(f"event {checkpoint['sequence']} differs from the signed checkpoint: the chain was rewritten",
                          checkpoint["sequence"])  # fmt: skip


# What each manifest "format" is, in words; anything else is named as the manifest names it.
FORMAT_NAMES = {"csv": "CSV export", "pdf": "PDF compliance report", "jsonl": "JSON Lines export",
                "dossier-pdf": "PDF model dossier", "dossier-json": "JSON model dossier"}  # fmt: skip
SIDECAR_SUFFIX = ".manifest.json"  # the portal names the manifest download <export file name>.manifest.json


def key_id(key) -> str:
    """The key's fingerprint as the portal's manifests state it (key_id): ed25519:<16 hex digits>."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return "ed25519:" + hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def read_sidecar(path: str) -> tuple[dict, str]:
    """(manifest, signature) from a detached manifest file, as /audit/exports/<id>/manifest serves it."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
        manifest, signature = data["manifest"], data["signature"]
    except FileNotFoundError:
        raise Failure(f"no manifest: {path} does not exist") from None
    except (ValueError, KeyError, TypeError):
        raise Failure(f'{path} is not a signed manifest (JSON with "manifest" and "signature")') from None
    if not isinstance(manifest, dict) or not isinstance(signature, str):
        raise Failure(f'{path} is not a signed manifest (JSON with "manifest" and "signature")')
    return manifest, signature


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_detached(path: str, manifest_path: str, key) -> str:
    """A CSV, PDF or dossier against its detached manifest: return what was verified, or raise Failure."""
    manifest, signature = read_sidecar(manifest_path)
    check_signature(key, manifest, signature, "manifest")
    if manifest.get("format") == "jsonl":
        raise Failure("the manifest is a JSON Lines export's: verify the .jsonl file itself")
    if file_sha256(path) != manifest.get("file_sha256"):
        raise Failure("the file's SHA-256 does not match the signed manifest: the file was changed "
                      "(or the manifest is another export's)")  # fmt: skip
    checkpoints = manifest.get("checkpoints") or []
    check_checkpoints(key, checkpoints, {})
    what = FORMAT_NAMES.get(manifest.get("format"), f"{manifest.get('format')} export")
    count = manifest.get("event_count")
    span = f", sequences {manifest.get('first_sequence')}..{manifest.get('last_sequence')}" if count else ""
    signed = (
        f", {len(checkpoints)} signed checkpoint{'s' if len(checkpoints) != 1 else ''} valid" if checkpoints else ""
    )
    made = f"generated {manifest.get('generated_at')} by {manifest.get('generated_by')}"
    return (
        f"OK: file intact and signed by key {key_id(key)}: {what} {str(manifest.get('export_id'))[:8]} of "
        f"{count} events{span}, {made}{signed}; the chain itself is verifiable from the JSON Lines export"
    )


def _check_events(handle, body_end: int, wanted: set) -> tuple[int, list[list[int]], dict, str]:
    """Steps 2 and 3 over the lines before the manifest: (count, sequence ranges, hashes of `wanted`, SHA-256)."""
    digest = hashlib.sha256()
    previous, count, ranges, hashes, consumed = None, 0, [], {}, 0
    for number, line in enumerate(handle, start=1):
        if consumed >= body_end:
            break
        consumed += len(line)
        digest.update(line)
        try:
            event = json.loads(line, parse_float=_strict_float, parse_constant=_refuse_constant)
        except ValueError:
            raise Failure(f"line {number} is not JSON") from None
        sequence = event.get("sequence") if isinstance(event, dict) else None
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise Failure(f"line {number} has no sequence")
        if event_hash(event) != event.get("hash"):
            raise Failure(f"event {sequence}: its content does not match its hash (edited)", sequence)
        if previous is None or sequence != previous["sequence"] + 1:
            if previous is not None and sequence <= previous["sequence"]:
                raise Failure(f"event {sequence} comes after event {previous['sequence']}: reordered", sequence)
            ranges.append([sequence, sequence])
        else:
            if event["prev_hash"] != previous["hash"]:
                raise Failure(f"event {sequence}: prev_hash does not link to event {previous['sequence']} "
                              "(broken chain)", sequence)  # fmt: skip
            ranges[-1][1] = sequence
        previous = event
        if sequence in wanted:
            hashes[sequence] = event["hash"]
        count += 1
    return count, ranges, hashes, digest.hexdigest()


def _first_missing(expected_ranges, ranges) -> int | None:
    """The first sequence the manifest's ranges include and the file's (increasing, disjoint) ranges do not."""
    starts = [first for first, _ in ranges]
    for first, last in expected_ranges:
        sequence = first
        while sequence <= last:
            index = bisect.bisect_right(starts, sequence) - 1
            if index < 0 or ranges[index][1] < sequence:
                return sequence
            sequence = ranges[index][1] + 1
    return None


def _is_jsonl(path: str) -> bool:
    """Whether `path` ends with a JSON Lines export's signed manifest line (whatever the file is called)."""
    try:
        with open(path, "rb") as handle:
            trailer = json.loads(_read_trailer(handle)[0])
    except (Failure, ValueError):
        return False
    return isinstance(trailer, dict) and "manifest" in trailer and "signature" in trailer


def _verify_jsonl(path: str, manifest_path: str | None, key) -> list[str]:
    count, notes = verify(path, key)
    if manifest_path is not None:  # a detached copy of the manifest, if given, must be the file's own
        with open(path, "rb") as handle:
            own = json.loads(_read_trailer(handle)[0])
        if read_sidecar(manifest_path) != (own["manifest"], own["signature"]):
            raise Failure(f"{manifest_path} is not this export's manifest (the file's last line is)")
    return [f"note: {note}" for note in notes] + [
        f"OK: {count} events verified; manifest signature and file hash valid; signed by key {key_id(key)}"
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Verify a GovPortal audit export offline: JSON Lines (the chain itself), or CSV, PDF and "
        "dossiers (the file against its signed manifest)."
    )
    parser.add_argument("export", help="the file downloaded from the portal (.jsonl, .csv, .pdf, .json)")
    parser.add_argument("--public-key", required=True, help="the portal's public key (from /audit/public-key)")
    parser.add_argument("--manifest", help="the export's signed manifest, downloaded beside it (default: "
                        f"<export>{SIDECAR_SUFFIX}); JSON Lines carry their own")  # fmt: skip
    args = parser.parse_args(argv)
    key = load_public_key(args.public_key)
    sidecar = args.manifest
    if sidecar is None and os.path.exists(args.export + SIDECAR_SUFFIX):
        sidecar = args.export + SIDECAR_SUFFIX
    try:
        if not os.path.exists(args.export):
            raise OSError(f"{args.export}: no such file")
        if args.export.endswith(".jsonl") or (sidecar is None and _is_jsonl(args.export)):
            lines = _verify_jsonl(args.export, args.manifest, key)
        elif sidecar is None:
            raise Failure(
                f"no manifest for {args.export}: only JSON Lines exports carry their own. Download the export's "
                f'signed manifest from its page in the portal ("Download the signed manifest") and save it as '
                f"{os.path.basename(args.export)}{SIDECAR_SUFFIX} beside the file, or pass --manifest <file>"
            )
        else:
            lines = [verify_detached(args.export, sidecar, key)]
    except Failure as failure:
        where = f" (first bad sequence: {failure.sequence})" if failure.sequence is not None else ""
        print(f"FAILED: {failure}{where}")
        return 1
    except OSError as error:
        print(f"verify_audit: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
