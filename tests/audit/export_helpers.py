"""Shared by the export tests: start an export as a user would, and run the offline verifier on it."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import Target, record

VERIFIER = Path(settings.BASE_DIR) / "clients" / "verify_audit.py"
TRICKY_LABEL = 'Scorecard, "retail" —\nZürich line two'


def start_export(client, user, fmt: str, **filters):
    """POST /audit/exports/start/ as `user` with the export form's fields."""
    client.force_login(user)
    return client.post("/audit/exports/start/", {"format": fmt, **{key: str(value) for key, value in filters.items()}})


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def split_jsonl(data: bytes) -> tuple[list[bytes], dict]:
    """(event lines without their newline, the {"manifest", "signature"} trailer)."""
    lines = data.split(b"\n")
    assert lines[-1] == b"", "a JSON Lines export ends with a newline"
    return lines[:-2], json.loads(lines[-2])


def events_sha256(data: bytes) -> str:
    """SHA-256 of a JSON Lines export's bytes before its manifest line (what the manifest states)."""
    events, _ = split_jsonl(data)
    return hashlib.sha256(b"".join(line + b"\n" for line in events)).hexdigest()


def save_public_key(client, directory: Path) -> Path:
    """The portal's public key as an auditor gets it: GET /audit/public-key, saved to a file."""
    response = client.get("/audit/public-key")
    assert response.status_code == 200
    path = directory / "govportal-audit.pub"
    path.write_bytes(response.content)
    return path


def run_verifier(export_path: Path, key_path: Path) -> subprocess.CompletedProcess:
    """clients/verify_audit.py in its own Python process, as an auditor runs it (no Django, no database)."""
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(export_path), "--public-key", str(key_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=export_path.parent,
    )


def add_trail(cast, models) -> None:
    """After the `models` fixture's events: awkward text in team A, a portal-wide event, team B's own events.

    Actions alternate so that an `action=model.` export has gaps of one and of several events.
    """
    scorecard = models.scorecard
    scope_a = {"team": cast.team_a.pk, "model": scorecard.pk}
    with transaction.atomic():
        record(
            action=Action.MODEL_UPDATED,
            actor=Actor.of(cast.dana),
            target=Target("inventory.registeredmodel", scorecard.pk, TRICKY_LABEL, scope=scope_a),
            changes={"description": ["plain", 'a, "quoted"\r\nmultiline — naïve ✓'], "score": [0.5, 0.75]},
        )
        record(
            action=Action.ENVIRONMENT_CREATED,
            actor=Actor.system("load_demo"),
            target=Target("inventory.environment", 7, "Staging"),
            changes={"name": [None, "Staging"]},
        )
        record(
            action=Action.ROLE_GRANTED,
            actor=Actor.of(cast.ben),
            target=Target("accounts.membership", 99, "eve as viewer of Fraud", scope={"team": cast.team_b.pk}),
            changes={"role": [None, "viewer"]},
        )
        record(
            action=Action.VERSION_UPDATED,
            actor=Actor.of(cast.dana),
            target=Target("inventory.modelversion", 1, "Retail Scorecard 1.0.0", scope=scope_a),
            changes={"notes": ["", "line one\nline two"]},
        )
        record(
            action=Action.MODEL_LIFECYCLE_CHANGED,
            actor=Actor.of(cast.alice),
            target=scorecard,
            changes={"lifecycle_status": ["development", "validation"]},
        )
