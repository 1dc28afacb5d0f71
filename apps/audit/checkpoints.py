"""Signed checkpoints: the portal's Ed25519 signature over the chain's size and head hash at a moment.

The hash chain shows any edit that leaves the stored hashes alone, but someone with database
superuser rights can recompute every hash from some event on and move the chain head to
match. A checkpoint signed earlier still names the old hash, and only the signing key can
make a new one, so verify_chain() reports the rewrite. Checkpoints link to each other by
signature; optionally each one is also committed to a Git repository outside the database
(AUDIT_CHECKPOINT_GIT_DIR), where deleting the newest checkpoints from the table shows too.
"""

import json
import logging
import subprocess
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import signing
from .models import AuditCheckpoint, AuditEvent, ChainHead

logger = logging.getLogger(__name__)

GIT_AUTHOR = ("GovPortal", "govportal@localhost")
GIT_TIMEOUT_SECONDS = 30


class CheckpointRefused(Exception):
    """The chain no longer extends the last checkpoint: signing now would vouch for tampering."""


def checkpoint_document(checkpoint: AuditCheckpoint) -> dict:
    """What a checkpoint states, as exports and the Git copy carry it: the signed fields, the signature, the key."""
    return checkpoint.signed_payload() | {"signature": checkpoint.signature, "key_id": checkpoint.key_id}


def checkpoint_sign(now=None) -> AuditCheckpoint | None:
    """Sign the current chain head; None when it has not moved since the last checkpoint (or is empty).

    Runs in one transaction with the chain head row locked, so no append lands between
    reading the head and storing the checkpoint, and checkpoints are signed one at a time.

    No `audit.checkpoint_signed` event is recorded, on purpose: recording it in the same
    transaction would move the head past the hash just signed, so the newest checkpoint would
    never name the real head and the next run would always find the head moved and sign
    again, forever, on an idle portal. The checkpoint table is its own record: append-only
    (database triggers), each row signed and linked to the one before by its signature.

    Refuses (CheckpointRefused) to sign a chain that no longer contains the last checkpoint's
    head: a head moved back, or an event at that sequence with another hash. That is
    tampering for `audit_verify` to name, not a state to sign.
    """
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        last = AuditCheckpoint.objects.order_by("-created_at", "-pk").first()
        if head.sequence == 0 or (last and (last.sequence, last.head_hash) == (head.sequence, head.hash)):
            return None
        if last:
            _ensure_extends(last, head)
        created_at = now or timezone.now()
        if last and created_at <= last.created_at:
            # Another host's clock may lag: time order must stay signing order, which links follow.
            created_at = last.created_at + timedelta(microseconds=1)
        checkpoint = AuditCheckpoint(
            sequence=head.sequence,
            head_hash=head.hash,
            created_at=created_at,
            prev_signature=last.signature if last else "",
            key_id=signing.key_id(),
        )
        checkpoint.signature = signing.sign(checkpoint.signed_payload())
        checkpoint.save(force_insert=True)
        if settings.AUDIT_CHECKPOINT_GIT_DIR:
            transaction.on_commit(lambda: checkpoint_commit_to_git(checkpoint, Path(settings.AUDIT_CHECKPOINT_GIT_DIR)))
    return checkpoint


def _ensure_extends(last: AuditCheckpoint, head: ChainHead) -> None:
    signed = AuditEvent.objects.filter(sequence=last.sequence).values_list("hash", flat=True).first()
    if head.sequence < last.sequence or signed != last.head_hash:
        raise CheckpointRefused(
            f"the chain (head #{head.sequence}) does not extend the checkpoint of event {last.sequence}: "
            "run `manage.py audit_verify`"
        )


def _git(directory: Path, *args: str) -> None:
    name, email = GIT_AUTHOR
    command = ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", "-c", "commit.gpgsign=false", *args]
    try:
        subprocess.run(command, cwd=directory, check=True, capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS)  # noqa: S603
    except subprocess.CalledProcessError as error:
        raise OSError(f"`git {' '.join(args)}` failed: {(error.stderr or error.stdout or '').strip()}") from None


def checkpoint_commit_to_git(checkpoint: AuditCheckpoint, directory: Path) -> bool:
    """Write the checkpoint to <directory>/checkpoints/<sequence>.json and commit it; False (logged) on failure.

    Runs after the checkpoint is committed to the database: a Git failure never loses it.
    """
    relative = Path("checkpoints") / f"{checkpoint.sequence}.json"
    try:
        (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
        if not (directory / ".git").exists():
            _git(directory, "init", "--quiet")
        document = json.dumps(checkpoint_document(checkpoint), indent=2, sort_keys=True, ensure_ascii=False)
        (directory / relative).write_text(document + "\n", encoding="utf-8")
        (directory / "public-key.pem").write_text(signing.public_key_pem(), encoding="utf-8")
        _git(directory, "add", "--", str(relative), "public-key.pem")
        name, email = GIT_AUTHOR
        message = f"Audit checkpoint #{checkpoint.sequence} {checkpoint.head_hash[:12]}"
        _git(directory, "commit", "--quiet", f"--author={name} <{email}>", "-m", message)
    except (OSError, subprocess.SubprocessError) as error:  # SubprocessError: git timed out
        logger.error(
            "audit checkpoint #%s is signed and stored, but committing it to %s failed: %s",
            checkpoint.sequence, directory, error,
        )  # fmt: skip
        return False
    return True
