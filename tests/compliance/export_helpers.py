"""Shared by the export tests: start an export as a user would, and run the offline verifier on it."""

import atexit
import functools
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
import venv
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


# What an auditor installs to verify: Python and `pip install cryptography` (which brings cffi and pycparser).
VERIFIER_PACKAGES = ("cryptography", "cffi", "pycparser")


@functools.cache
def bare_python() -> str:
    """A Python with the cryptography package and nothing else of the portal's: a venv made once per test run
    whose site-packages links only VERIFIER_PACKAGES' files. Run with -I, so neither the current directory
    nor PYTHONPATH can bring Django back."""
    root = Path(tempfile.mkdtemp(prefix="govportal-bare-python-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    site = root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for name in VERIFIER_PACKAGES:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:  # a later cryptography may not need cffi
            continue
        for top in {file.parts[0] for file in files if file.parts[0] != ".."}:
            source = Path(importlib.metadata.distribution(name).locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    return str(root / "bin" / "python")


def run_verifier(export_path: Path, key_path: Path, *options: str) -> subprocess.CompletedProcess:
    """clients/verify_audit.py in its own Python process, as an auditor runs it: a Python without Django (see
    bare_python()), no database, no settings."""
    return subprocess.run(
        [bare_python(), "-I", str(VERIFIER), str(export_path), "--public-key", str(key_path), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=export_path.parent,
    )


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one bit of one byte of `path` (the middle one unless `offset` says which), as corruption would."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


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
