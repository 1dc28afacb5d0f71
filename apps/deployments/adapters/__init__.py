"""One small adapter per kind of deployment target, registered in one table: a new kind is one module.

An adapter is a module with:
  - ``clean_config(config: dict) -> dict``: the kind's configuration checked and normalised, or
    ValidationError({"config": [...]}) naming the field in plain words;
  - ``endpoint(config) -> str``: the URL a credential would be sent to (checked against the credential's hosts);
  - ``observe(target, secret, known) -> list[Observed]``: what runs on the target now. ``secret`` is the granted
    credential's secret (or None); ``known`` holds the identities already open for the target, so an adapter may
    skip work (e.g. finding the commit that introduced a version) for them. It raises TargetError, in plain words
    and without secrets, when the target cannot be read.
"""

import importlib
import re
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


class TargetError(Exception):
    """The target could not be read; ``str()`` says why, free of secrets. Transient ones are retried."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Observed:
    """One model running on a target, as the target names it."""

    model: str
    version: str = ""
    digest: str = ""
    location: str = ""
    artifact_uri: str = ""  # matched against versions' artifact URIs when the target names no version
    since: datetime | None = None
    commit_sha: str = ""
    commit_author: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return self.model, self.version, self.digest, self.location


def normalise_digest(value) -> str:
    """A sha256 digest as 64 lower-case hex characters ('' when it is not one)."""
    match = _DIGEST.match(str(value or "").strip())
    return match[1].lower() if match else ""


# kind → module in this package: the one table that registers a kind.
ADAPTERS = {"gitops": "gitops", "kserve-v2": "kserve", "mlflow": "mlflow"}


def adapter_for(kind: str) -> ModuleType:
    """The adapter module for `kind`; KeyError for a kind nobody registered."""
    if kind not in ADAPTERS:
        raise KeyError(f"unknown target kind {kind!r}")
    return importlib.import_module(f"{__name__}.{ADAPTERS[kind]}")
