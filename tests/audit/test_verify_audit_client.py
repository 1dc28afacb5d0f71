"""clients/verify_audit.py on real exports: an intact export passes; every kind of tampering fails at the right event.

An auditor downloads a JSON Lines export and the public key, then runs the verifier in a
plain Python process. Each tampering test edits a copy of the downloaded file.
"""

import itertools
import json

import pytest

from apps.audit import hashing
from apps.audit.checkpoints import checkpoint_sign
from apps.audit.models import AuditEvent, ChainHead

from .export_helpers import (
    add_trail,
    body_of,
    run_verifier,
    save_public_key,
    split_jsonl,
    start_export,
)
from .helpers import triggers_bypassed


@pytest.fixture
def trail(cast, models):
    add_trail(cast, models)


@pytest.fixture
def key_path(client, tmp_path):
    return save_public_key(client, tmp_path)


@pytest.fixture
def export(client, cast, trail, tmp_path):
    """audrey's unfiltered JSON Lines export: (event lines, trailer, path of the downloaded file)."""
    response = start_export(client, cast.audrey, "jsonl")
    assert response.status_code == 200
    data = body_of(response)
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    events, trailer = split_jsonl(data)
    return events, trailer, path


def write_copy(tmp_path, events: list[bytes], trailer: dict, name: str = "tampered.jsonl"):
    path = tmp_path / name
    trailer_line = json.dumps(trailer, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    path.write_bytes(b"".join(line + b"\n" for line in [*events, trailer_line]))
    return path


def sequences(events: list[bytes]) -> list[int]:
    return [json.loads(line)["sequence"] for line in events]


def assert_failed(result, message: str, sequence: int | None) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("FAILED: ")
    assert message in result.stdout
    if sequence is not None:
        assert f"(first bad sequence: {sequence})" in result.stdout


def test_an_intact_jsonl_export_verifies(export, key_path):
    events, trailer, path = export
    result = run_verifier(path, key_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        result.stdout.splitlines()[-1] == f"OK: {len(events)} events verified; manifest signature and file hash valid"
    )
    assert trailer["manifest"]["event_count"] == len(events)


def test_a_written_copy_of_the_export_is_byte_identical(export, tmp_path, key_path):
    events, trailer, path = export
    assert write_copy(tmp_path, events, trailer).read_bytes() == path.read_bytes()


def test_one_changed_character_in_an_actor_label_fails_as_edited_at_that_event(export, tmp_path, key_path):
    events, trailer, _ = export
    index = next(i for i, line in enumerate(events) if b'"actor_label":"dana"' in line)
    sequence = sequences(events)[index]
    events[index] = events[index].replace(b'"actor_label":"dana"', b'"actor_label":"dona"')
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, f"event {sequence}: its content does not match its hash (edited)", sequence)


def test_one_changed_byte_in_the_changes_fails_as_edited(export, tmp_path, key_path):
    events, trailer, _ = export
    index = next(i for i, line in enumerate(events) if "naïve".encode() in line)
    sequence = sequences(events)[index]
    events[index] = events[index].replace("naïve".encode(), b"naive")
    assert_failed(run_verifier(write_copy(tmp_path, events, trailer), key_path), "(edited)", sequence)


def test_an_edited_hash_that_matches_the_edit_still_breaks_the_chain(export, tmp_path, key_path):
    """A forger who recomputes the edited event's hash breaks the next event's prev_hash link."""
    events, trailer, _ = export
    seqs = sequences(events)
    index = next(i for i in range(len(seqs) - 1) if seqs[i + 1] == seqs[i] + 1)
    event = json.loads(events[index])
    event["actor_label"] = "mallory"
    event["hash"] = hashing.compute_hash(event)
    events[index] = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, f"prev_hash does not link to event {seqs[index]} (broken chain)", seqs[index + 1])


def test_a_dropped_line_in_a_contiguous_range_fails_as_missing(export, tmp_path, key_path):
    events, trailer, _ = export
    seqs = sequences(events)
    index = next(i for i in range(1, len(seqs) - 1) if seqs[i - 1] + 1 == seqs[i] == seqs[i + 1] - 1)
    del events[index]
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, f"event {seqs[index]} is missing", seqs[index])


def test_two_swapped_lines_fail_as_reordered(export, tmp_path, key_path):
    events, trailer, _ = export
    seqs = sequences(events)
    events[2], events[3] = events[3], events[2]
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, f"event {seqs[2]} comes after event {seqs[3]}: reordered", seqs[2])


def test_an_edited_manifest_fails_its_signature(export, tmp_path, key_path):
    events, trailer, _ = export
    trailer["manifest"]["event_count"] += 1
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, "manifest: the signature does not verify with this public key", None)


def test_another_key_fails_the_signature(export, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _, _, path = export
    other = tmp_path / "other.pub"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert_failed(run_verifier(path, other), "manifest: the signature does not verify", None)


def test_an_appended_event_line_fails(export, tmp_path, key_path):
    events, trailer, _ = export
    events.append(events[-1])
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, "reordered", sequences(events)[-1])


def test_a_file_without_its_manifest_fails(export, tmp_path, key_path):
    events, _, _ = export
    path = tmp_path / "headless.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in events))
    assert_failed(run_verifier(path, key_path), "the last line is not a signed manifest", None)


def test_a_filtered_export_verifies_and_notes_the_gaps(client, cast, trail, tmp_path, key_path):
    response = start_export(client, cast.audrey, "jsonl", action="model.")
    path = tmp_path / "models.jsonl"
    path.write_bytes(body_of(response))
    events, trailer = split_jsonl(path.read_bytes())
    expected = list(
        AuditEvent.objects.restrict(cast.audrey)
        .filter(action__startswith="model.")
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences(events) == expected
    gaps = [(a + 1, b - 1) for a, b in itertools.pairwise(expected) if b > a + 1]
    assert any(first < last for first, last in gaps), "the trail has a gap of several events"
    result = run_verifier(path, key_path)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: events {first}..{last} not included (filtered)" if first < last
                     else f"note: events {first} not included (filtered)" for first, last in gaps]  # fmt: skip
    assert result.stdout.splitlines()[-1].startswith(f"OK: {len(expected)} events verified")
    assert trailer["manifest"]["filters"] == {"action": "model."}
    assert trailer["manifest"]["ranges"] == [[a, b] for a, b in ranges_of(expected)]


def ranges_of(values: list[int]) -> list[tuple[int, int]]:
    result: list[list[int]] = []
    for value in values:
        if result and result[-1][1] == value - 1:
            result[-1][1] = value
        else:
            result.append([value, value])
    return [(a, b) for a, b in result]


def test_a_filtered_export_with_an_event_dropped_inside_a_range_fails(client, cast, trail, tmp_path, key_path):
    response = start_export(client, cast.admin, "jsonl", action="version.")
    events, trailer = split_jsonl(body_of(response))
    seqs = sequences(events)
    index = next(i for i in range(1, len(seqs)) if seqs[i] == seqs[i - 1] + 1)
    del events[index]
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, f"event {seqs[index]} is missing: the manifest says the export includes it", seqs[index])


def test_an_empty_export_verifies(client, cast, trail, tmp_path, key_path):
    response = start_export(client, cast.audrey, "jsonl", actor="nobody-at-all")
    path = tmp_path / "empty.jsonl"
    path.write_bytes(body_of(response))
    result = run_verifier(path, key_path)
    assert (result.returncode, result.stdout) == (0, "OK: 0 events verified; manifest signature and file hash valid\n")


def test_an_export_without_its_final_newline_still_verifies(export, tmp_path, key_path):
    _, _, path = export
    trimmed = tmp_path / "trimmed.jsonl"
    trimmed.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert run_verifier(trimmed, key_path).returncode == 0


def test_a_blank_line_fails_as_not_json(export, tmp_path, key_path):
    events, trailer, _ = export
    events.insert(2, b"")
    assert_failed(run_verifier(write_copy(tmp_path, events, trailer), key_path), "line 3 is not JSON", None)


def test_a_non_finite_number_fails_cleanly(export, tmp_path, key_path):
    events, trailer, _ = export
    events[1] = events[1].replace(b'"changes":{', b'"changes":{"nan":NaN,', 1)
    result = run_verifier(write_copy(tmp_path, events, trailer), key_path)
    assert_failed(result, "line 2 is not JSON", None)
    assert "Traceback" not in result.stderr


def test_an_empty_file_fails(tmp_path, key_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert_failed(run_verifier(path, key_path), "the file is empty", None)


def test_an_unreadable_export_is_a_usage_error(tmp_path, key_path):
    result = run_verifier(tmp_path / "absent.jsonl", key_path)
    assert result.returncode == 2
    assert result.stderr.startswith("verify_audit: ")


def rewrite_from(sequence: int, label: str = "mallory") -> None:
    """What a database superuser can do: edit one event, recompute every hash after it, move the chain head."""
    prev_hash = AuditEvent.objects.get(sequence=sequence - 1).hash
    for event in AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
        if event.sequence == sequence:
            event.actor_label = label
        event.prev_hash = prev_hash
        event.hash = prev_hash = event.compute_hash()
        AuditEvent.objects.filter(pk=event.pk).update(
            actor_label=event.actor_label, prev_hash=event.prev_hash, hash=event.hash
        )
    ChainHead.objects.filter(pk=1).update(hash=prev_hash)


def test_a_rewritten_chain_contradicts_the_signed_checkpoint_the_export_carries(
    client, cast, trail, tmp_path, key_path, settings
):
    settings.AUDIT_CHECKPOINT_GIT_DIR = ""
    checkpoint = checkpoint_sign()
    before = tmp_path / "before.jsonl"
    before.write_bytes(body_of(start_export(client, cast.admin, "jsonl")))
    assert split_jsonl(before.read_bytes())[1]["manifest"]["checkpoints"][0]["head_hash"] == checkpoint.head_hash
    assert run_verifier(before, key_path).returncode == 0

    with triggers_bypassed():
        rewrite_from(3)
    after = tmp_path / "after.jsonl"
    after.write_bytes(body_of(start_export(client, cast.admin, "jsonl")))
    result = run_verifier(after, key_path)
    message = f"event {checkpoint.sequence} differs from the signed checkpoint: the chain was rewritten"
    assert_failed(result, message, checkpoint.sequence)
