"""clients/verify_audit.py on real exports: an intact export passes; every kind of tampering fails at the right event.

An auditor downloads a JSON Lines export and the public key, then runs the verifier in a
plain Python process. Each tampering test edits a copy of the downloaded file.
"""

import itertools
import json
import re

import pytest

from apps.audit import hashing, signing
from apps.audit.checkpoints import checkpoint_sign
from apps.audit.models import AuditEvent, ChainHead
from apps.compliance.models import AuditExport
from tests.audit.helpers import triggers_bypassed

from .export_helpers import (
    add_trail,
    bare_python,
    body_of,
    flip_byte,
    run_verifier,
    save_public_key,
    split_jsonl,
    start_export,
)


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
    assert result.stdout.splitlines()[-1] == (
        f"OK: {len(events)} events verified; manifest signature and file hash valid; signed by key {signing.key_id()}"
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
    assert (result.returncode, result.stdout) == (
        0,
        f"OK: 0 events verified; manifest signature and file hash valid; signed by key {signing.key_id()}\n",
    )


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


# --- every format: CSV, PDF (and JSON Lines) against the detached manifest the portal offers beside them ------


WHAT = {"csv": "CSV export", "pdf": "PDF compliance report"}


@pytest.fixture(params=["csv", "csv-file", "pdf", "jsonl"])
def downloaded(request, client, cast, trail, tmp_path, settings, django_capture_on_commit_callbacks):
    """A genuine export as audrey downloads it: (the export, its file, its manifest), saved under the names the
    portal gives them. csv is streamed; csv-file is large enough to be written by a task; a PDF always is."""
    fmt = request.param.removesuffix("-file")
    if request.param == "csv-file":
        settings.AUDIT_EXPORT_STREAM_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=True):
        response = start_export(client, cast.audrey, fmt)
    if response.status_code == 302:
        export = AuditExport.objects.get()
        data = body_of(client.get(f"/audit/exports/{export.pk}/download"))
    else:
        data = body_of(response)
        export = AuditExport.objects.get(pk=response["X-Export-Id"])
    export.refresh_from_db()
    assert export.streamed == (request.param in ("csv", "jsonl"))
    file = tmp_path / export.file_name
    file.write_bytes(data)
    sidecar = client.get(f"/audit/exports/{export.pk}/manifest")
    assert sidecar["Content-Disposition"] == f'attachment; filename="{export.manifest_file_name}"'
    manifest = tmp_path / export.manifest_file_name
    manifest.write_bytes(sidecar.content)
    return export, file, manifest


def test_a_genuine_export_of_every_format_verifies_and_says_what_was_verified(downloaded, key_path):
    export, file, manifest = downloaded
    for options in ((), ("--manifest", str(manifest))):  # found beside the file, or named
        result = run_verifier(file, key_path, *options)
        assert result.returncode == 0, result.stdout + result.stderr
        last = result.stdout.splitlines()[-1]
        if export.format == "jsonl":
            assert last.startswith(f"OK: {export.row_count} events verified; manifest signature and file hash valid")
            continue
        assert last.startswith(
            f"OK: file intact and signed by key {signing.key_id()}: {WHAT[export.format]} {str(export.pk)[:8]} of "
            f"{export.row_count} events, sequences {export.manifest['first_sequence']}.."
        )
        assert "by audrey; the chain itself is verifiable from the JSON Lines export" in last


def test_one_flipped_byte_of_the_file_fails(downloaded, key_path):
    export, file, _ = downloaded
    flip_byte(file)
    result = run_verifier(file, key_path)
    assert result.returncode == 1, result.stdout + result.stderr
    if export.format == "jsonl":  # the middle of the file is an event: edited, or no longer JSON
        assert re.match(r"FAILED: (event \d+: its content does not match its hash \(edited\)|line \d+ is not JSON)",
                        result.stdout), result.stdout  # fmt: skip
    else:
        assert result.stdout.startswith(
            "FAILED: the file's SHA-256 does not match the signed manifest: the file was changed"
        ), result.stdout
    assert "Traceback" not in result.stderr


def test_one_flipped_byte_of_the_manifest_fails_its_signature(downloaded, key_path):
    """A digit of the event count, flipped in the detached manifest (JSON Lines: in the manifest line)."""
    export, file, manifest = downloaded
    signed = file if export.format == "jsonl" else manifest
    data = signed.read_bytes()
    at = re.search(rb'"event_count": ?\d', data).end() - 1
    flip_byte(signed, at)
    result = run_verifier(file, key_path)
    assert (result.returncode, result.stdout) == (1, "FAILED: manifest: the signature does not verify with this "
                                                     "public key\n")  # fmt: skip


def test_a_flipped_byte_anywhere_in_a_detached_manifest_fails_clearly(downloaded, key_path):
    _, file, manifest = downloaded
    flip_byte(manifest)
    result = run_verifier(file, key_path, "--manifest", str(manifest))
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.match(r"FAILED: (manifest: the signature does not verify|.* is not a signed manifest|.* is not this "
                    r"export's manifest)", result.stdout), result.stdout  # fmt: skip
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("downloaded", ["csv", "csv-file", "pdf"], indirect=True)  # JSON Lines carry their own
def test_a_csv_or_pdf_without_its_manifest_fails_and_says_where_to_find_it(downloaded, key_path):
    export, file, manifest = downloaded
    manifest.unlink()
    result = run_verifier(file, key_path)
    assert result.returncode == 1
    assert result.stdout == (
        f"FAILED: no manifest for {file}: only JSON Lines exports carry their own. Download the export's signed "
        f'manifest from its page in the portal ("Download the signed manifest") and save it as '
        f"{export.manifest_file_name} beside the file, or pass --manifest <file>\n"
    )
    missing = run_verifier(file, key_path, "--manifest", "elsewhere.json")
    assert (missing.returncode, missing.stdout) == (1, "FAILED: no manifest: elsewhere.json does not exist\n")


def test_another_exports_manifest_does_not_verify_a_file(client, cast, trail, tmp_path, key_path):
    files = []
    for action in ("model.", "version."):
        response = start_export(client, cast.audrey, "csv", action=action)
        path = tmp_path / f"{action}csv"
        path.write_bytes(body_of(response))
        (tmp_path / f"{action}csv.manifest.json").write_bytes(
            client.get(f"/audit/exports/{response['X-Export-Id']}/manifest").content
        )
        files.append(path)
    result = run_verifier(files[0], key_path, "--manifest", f"{files[1]}.manifest.json")
    assert result.returncode == 1
    assert "the file's SHA-256 does not match the signed manifest" in result.stdout


def test_a_jsonl_export_named_with_a_detached_manifest_of_another_export_fails(client, cast, trail, tmp_path,
                                                                               key_path):  # fmt: skip
    jsonl = start_export(client, cast.audrey, "jsonl")
    path = tmp_path / "export.jsonl"
    path.write_bytes(body_of(jsonl))
    other = start_export(client, cast.audrey, "csv")
    body_of(other)
    (tmp_path / "other.manifest.json").write_bytes(
        client.get(f"/audit/exports/{other['X-Export-Id']}/manifest").content
    )
    result = run_verifier(path, key_path, "--manifest", "other.manifest.json")
    assert (result.returncode, result.stdout) == (
        1,
        "FAILED: other.manifest.json is not this export's manifest (the file's last line is)\n",
    )


def test_the_verifier_runs_under_a_python_with_cryptography_and_without_django():
    import subprocess

    def run(code):
        return subprocess.run([bare_python(), "-I", "-c", code], capture_output=True, text=True, check=False)

    assert run("import cryptography.hazmat.primitives.asymmetric.ed25519").returncode == 0
    assert "No module named 'django'" in run("import django").stderr
