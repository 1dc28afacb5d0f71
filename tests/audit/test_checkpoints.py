"""Signed checkpoints: what they sign, when they skip, and the tampering only they reveal.

The forger here has database superuser rights: they switch the triggers off, rewrite every
event from some point on with correct hashes and links, and move the chain head to match.
The hash chain alone cannot tell; a checkpoint signed before the rewrite can.
"""

import base64
import json
import os
import shutil
import stat
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.audit import hashing, signing
from apps.audit.checkpoints import CheckpointRefused, checkpoint_sign
from apps.audit.models import AuditCheckpoint, AuditEvent, ChainHead
from apps.audit.tasks import checkpoint_sign_task
from apps.audit.verification import verify_chain
from tests.conftest import needs_postgres

from .helpers import append, triggers_bypassed

SIGNING_KEY = signing.generate_pem().decode()  # tests run with DEBUG off: no development key


@pytest.fixture(autouse=True)
def signing_key(settings):
    settings.AUDIT_SIGNING_KEY = SIGNING_KEY
    signing.private_key.cache_clear()
    yield
    signing.private_key.cache_clear()


def execute(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def rewrite_from(sequence: int, label: str = "someone-else") -> None:
    """The full rewrite: edit event `sequence`, recompute every hash and link after it, move the chain head."""
    first = AuditEvent.objects.get(sequence=sequence)
    prev_hash = first.prev_hash
    with triggers_bypassed():
        for event in AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
            if event.sequence == sequence:
                event.actor_label = label
            event.prev_hash = prev_hash
            event.hash = event.compute_hash()
            AuditEvent.objects.filter(pk=event.pk).update(
                actor_label=event.actor_label, prev_hash=event.prev_hash, hash=event.hash
            )
            prev_hash = event.hash
    ChainHead.objects.filter(pk=1).update(hash=prev_hash)


def assert_reported(sequence: int, problem: str) -> str:
    result = verify_chain()
    assert (result.ok, result.bad_sequence, result.problem) == (False, sequence, problem), result.detail
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify", stdout=StringIO())
    assert failure.value.returncode == 1
    assert str(failure.value).startswith(f"FAILED at sequence {sequence}: {problem} — ")
    return result.detail


def at(checkpoint: AuditCheckpoint) -> str:
    return hashing.format_timestamp(checkpoint.created_at)


# Signing


def test_checkpoint_signs_the_chain_head_and_links_to_the_previous_one(db):
    events = append(3)
    first = checkpoint_sign()
    assert (first.sequence, first.head_hash, first.prev_signature) == (3, events[-1].hash, "")
    assert first.key_id == signing.key_id()
    assert signing.verify(first.signed_payload(), first.signature)
    assert first.signed_payload()["created_at"].endswith("Z")

    append(2)
    second = checkpoint_sign()
    assert (second.sequence, second.head_hash) == (5, ChainHead.objects.get().hash)
    assert second.prev_signature == first.signature
    assert signing.verify(second.signed_payload(), second.signature)
    stored = AuditCheckpoint.objects.get(pk=second.pk)
    assert signing.verify(stored.signed_payload(), stored.signature)  # survives the database round trip


def test_signing_records_no_audit_event_so_the_checkpoint_names_the_real_head(db):
    append(2)
    checkpoint = checkpoint_sign()
    assert AuditEvent.objects.count() == 2
    assert (checkpoint.sequence, checkpoint.head_hash) == ChainHead.objects.values_list("sequence", "hash").get()


def test_checkpoint_is_skipped_while_the_head_has_not_moved(db):
    assert checkpoint_sign() is None  # an empty chain has nothing to sign
    append(2)
    assert checkpoint_sign() is not None
    assert checkpoint_sign() is None
    assert AuditCheckpoint.objects.count() == 1
    append(1)
    assert checkpoint_sign().sequence == 3
    assert AuditCheckpoint.objects.count() == 2


def test_checkpoint_time_never_goes_backwards(db):
    append(1)
    first = checkpoint_sign()
    append(1)
    lagging = checkpoint_sign(now=first.created_at - timedelta(seconds=5))  # another host's clock lags
    assert lagging.created_at == first.created_at + timedelta(microseconds=1)
    assert verify_chain().ok


def test_checkpoint_is_refused_when_the_chain_no_longer_extends_the_last_one(db):
    append(4)
    checkpoint_sign()
    rewrite_from(2)
    append(1)
    with pytest.raises(CheckpointRefused, match="does not extend the checkpoint of event 4"):
        checkpoint_sign()
    assert AuditCheckpoint.objects.count() == 1


def test_beat_signs_checkpoints_hourly_and_expires_exports():
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["apps.audit.tasks.checkpoint_sign_task"] == settings.AUDIT_CHECKPOINT_SECONDS == 3600
    assert schedule["apps.audit.tasks.exports_expire_task"] == 3600


def test_checkpoint_task_signs_once_then_skips(db):
    append(2)
    assert checkpoint_sign_task.delay().get() == 2
    assert checkpoint_sign_task.delay().get() is None


def test_audit_checkpoint_command_prints_the_checkpoint(db):
    append(2)
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    printed = json.loads(out.getvalue())
    checkpoint = AuditCheckpoint.objects.get()
    assert printed == checkpoint.signed_payload() | {"signature": checkpoint.signature, "key_id": checkpoint.key_id}
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    assert "has not moved" in out.getvalue()


# Append-only


@pytest.fixture
def checkpoint(db):
    append(3)
    return checkpoint_sign()


def test_checkpoint_model_refuses_save_and_delete(checkpoint):
    checkpoint.head_hash = "f" * 64
    with pytest.raises(RuntimeError, match="append-only"):
        checkpoint.save()
    with pytest.raises(RuntimeError, match="append-only"):
        checkpoint.delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditcheckpoint SET head_hash = 'forged'",
        "UPDATE audit_auditcheckpoint SET sequence = sequence + 1",
        "DELETE FROM audit_auditcheckpoint",
    ],
)
def test_checkpoint_table_refuses_update_and_delete_in_the_database(checkpoint, sql):
    with pytest.raises(DatabaseError, match="audit checkpoints are append-only"), transaction.atomic():
        execute(sql)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditCheckpoint.objects.all().delete()
    stored = AuditCheckpoint.objects.get()
    assert (stored.head_hash, stored.sequence) == (checkpoint.head_hash, checkpoint.sequence)


def test_checkpoint_table_refuses_truncate_on_postgresql(checkpoint):
    needs_postgres()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        execute("TRUNCATE audit_auditcheckpoint")
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.parametrize("reset_sequences", [True, False], ids=["truncate", "delete"])
def test_flush_puts_the_checkpoint_triggers_back(transactional_db, reset_sequences):
    """Both ways of emptying (TRUNCATE, and on PostgreSQL DELETE without triggers when sequences are kept, what a
    transactional test's teardown asks) leave the audit tables empty and append-only again."""
    append(1)
    checkpoint_sign()
    call_command("flush", interactive=False, verbosity=0, reset_sequences=reset_sequences)  # in the test suite only
    assert not AuditEvent.objects.exists()
    assert not AuditCheckpoint.objects.exists()
    append(1)
    checkpoint_sign()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        execute("DELETE FROM audit_auditcheckpoint")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        execute("DELETE FROM audit_auditevent")


# Verification against checkpoints


def test_intact_chain_with_checkpoints_passes_and_says_how_many_were_checked(db):
    append(3)
    checkpoint_sign()
    append(2)
    checkpoint_sign()
    result = verify_chain()
    assert (result.ok, result.count, result.checkpoints) == (True, 5, 2)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue() == f"OK: 5 events, chain head #5 {result.head_hash}, 2 signed checkpoints checked\n"


def test_full_chain_rewrite_after_a_checkpoint_is_reported_rewritten(db):
    append(5)
    checkpoint = checkpoint_sign()
    append(3)
    rewrite_from(3)
    # The chain itself holds: every hash and link was recomputed and the head moved to match.
    assert verify_chain().problem == "rewritten"
    detail = assert_reported(5, "rewritten")
    assert at(checkpoint) in detail


def test_rewrite_names_the_last_checkpoint_that_still_matches(db):
    append(2)
    early = checkpoint_sign()
    append(3)
    late = checkpoint_sign()
    append(1)
    rewrite_from(4)
    detail = assert_reported(5, "rewritten")
    assert at(late) in detail
    assert f"after event 2, which the checkpoint of {at(early)} still matches" in detail


def test_rewrite_of_only_the_events_after_the_newest_checkpoint_is_beyond_checkpoints(db):
    # What the next checkpoint will cover; the Git copy and exports are the other witnesses.
    append(3)
    checkpoint_sign()
    append(3)
    rewrite_from(5)
    assert verify_chain().ok


def test_truncated_chain_with_the_head_moved_back_is_reported_missing(db):
    append(6)
    checkpoint_sign()
    with triggers_bypassed():
        AuditEvent.objects.filter(sequence__gt=4).delete()
    ChainHead.objects.filter(pk=1).update(sequence=4, hash=AuditEvent.objects.get(sequence=4).hash)
    detail = assert_reported(5, "missing")
    assert "records 6 events; the chain head records 4" in detail


def test_checkpoint_with_an_altered_head_hash_is_reported_forged(checkpoint):
    # The forger rewrites the chain and then "fixes" the checkpoint: the signature no longer matches.
    rewrite_from(2)
    with triggers_bypassed():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(head_hash=ChainHead.objects.get().hash)
    detail = assert_reported(3, "forged")
    assert "does not verify with the portal's key" in detail


def test_checkpoint_signed_with_another_key_is_reported_forged(checkpoint):
    rewrite_from(2)
    forger = Ed25519PrivateKey.generate()
    forged = AuditCheckpoint(
        sequence=3, head_hash=ChainHead.objects.get().hash, created_at=timezone.now(),
        prev_signature=checkpoint.signature, key_id="ed25519:0123456789abcdef",
    )  # fmt: skip
    forged.signature = base64.b64encode(forger.sign(hashing.canonical_bytes(forged.signed_payload()))).decode()
    with triggers_bypassed():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).delete()
    forged.save(force_insert=True)
    detail = assert_reported(3, "forged")
    assert "it names key ed25519:0123456789abcdef" in detail


def test_deleted_checkpoint_breaks_the_signature_links(db):
    for _ in range(3):
        append(1)
        checkpoint_sign()
    with triggers_bypassed():
        AuditCheckpoint.objects.filter(sequence=2).delete()
    detail = assert_reported(3, "forged")
    assert "does not link to the checkpoint before it" in detail


# Git copy


@pytest.fixture
def git_dir(tmp_path, settings):
    if shutil.which("git") is None:
        pytest.skip("needs the git command")
    settings.AUDIT_CHECKPOINT_GIT_DIR = str(tmp_path / "checkpoints-repo")
    return tmp_path / "checkpoints-repo"


def git(directory, *args) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True, text=True).stdout


def test_checkpoints_are_committed_to_git_after_the_database_commit(db, git_dir, django_capture_on_commit_callbacks):
    append(2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = checkpoint_sign()
    assert len(callbacks) == 1
    append(1)
    with django_capture_on_commit_callbacks(execute=True):
        second = checkpoint_sign()
    document = json.loads((git_dir / "checkpoints" / "3.json").read_text())
    assert document == second.signed_payload() | {"signature": second.signature, "key_id": second.key_id}
    assert json.loads((git_dir / "checkpoints" / "2.json").read_text())["signature"] == first.signature
    log = git(git_dir, "log", "--format=%an <%ae>|%s").splitlines()
    assert log == [
        f"GovPortal <govportal@localhost>|Audit checkpoint #3 {second.head_hash[:12]}",
        f"GovPortal <govportal@localhost>|Audit checkpoint #2 {first.head_hash[:12]}",
    ]
    assert git(git_dir, "status", "--porcelain") == ""
    assert (git_dir / "public-key.pem").read_text() == signing.public_key_pem()


def test_git_failure_keeps_the_checkpoint_and_is_logged(db, git_dir, django_capture_on_commit_callbacks, caplog):
    git_dir.write_text("a file where the repository should be")
    append(2)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = checkpoint_sign()
    assert AuditCheckpoint.objects.filter(pk=checkpoint.pk).exists()
    assert "audit checkpoint #2 is signed and stored, but committing it" in caplog.text


def test_git_commit_refused_by_git_is_logged_with_its_message(db, git_dir, django_capture_on_commit_callbacks, caplog):
    git_dir.mkdir()
    git(git_dir, "init", "--quiet")
    (git_dir / ".git" / "index.lock").write_text("")  # another git process holds the index
    append(1)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_sign()
    assert AuditCheckpoint.objects.count() == 1
    assert "index.lock" in caplog.text


def test_no_git_copy_is_written_for_a_checkpoint_that_rolls_back(db, git_dir, django_capture_on_commit_callbacks):
    append(1)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ZeroDivisionError), transaction.atomic():
        checkpoint_sign()
        1 / 0  # noqa: B018 — the caller's transaction fails after the checkpoint was signed
    assert not AuditCheckpoint.objects.exists()
    assert not git_dir.exists()


# Key generation


def test_audit_keygen_writes_a_private_key_file_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "keys" / "audit.pem"
    out = StringIO()
    call_command("audit_keygen", "--out", str(path), stdout=out)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    printed = out.getvalue()
    assert f"AUDIT_SIGNING_KEY_FILE={path}" in printed
    assert "-----BEGIN PUBLIC KEY-----" in printed
    assert signing.public_key_pem_of_file(path).strip() in printed
    private = path.read_text()
    assert "PRIVATE KEY" in private and "PRIVATE KEY" not in printed
    for line in private.splitlines()[1:-1]:
        assert line not in printed


def test_audit_keygen_refuses_to_overwrite_a_key_without_force(tmp_path):
    path = tmp_path / "audit.pem"
    call_command("audit_keygen", "--out", str(path), stdout=StringIO())
    original = path.read_bytes()
    with pytest.raises(CommandError, match="refusing to overwrite"):
        call_command("audit_keygen", "--out", str(path), stdout=StringIO())
    assert path.read_bytes() == original
    out = StringIO()
    call_command("audit_keygen", "--out", str(path), "--force", stdout=out)
    assert path.read_bytes() != original
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "PRIVATE KEY" not in out.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.pem"]  # no draft left behind


def test_parallel_verification_checks_checkpoints_too(transactional_db, monkeypatch):
    from apps.audit import verification
    from bench.generate import generate_events

    monkeypatch.setattr(verification, "MIN_SEGMENT", 5)
    generate_events(30)
    checkpoint_sign()
    generate_events(30)
    checkpoint_sign()
    assert verify_chain(workers=3).checkpoints == 2
    rewrite_from(35)
    result = verify_chain(workers=3)
    assert (result.ok, result.bad_sequence, result.problem) == (False, 60, "rewritten")
    assert "after event 30" in result.detail
