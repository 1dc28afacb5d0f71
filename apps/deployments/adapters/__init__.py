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


@dataclass(frozen=True)
class DeployOrder:
    """What an approved request (or a break-glass record) asks a target to run: exactly the approved artifact."""

    model_slug: str
    model_name: str
    version: str
    digest: str
    artifact_uri: str
    message: str  # a commit message or description naming the request, its subject hash and its approvers
    author: tuple[str, str]  # (name, e-mail) the change is made as


@dataclass(frozen=True)
class Deployed:
    reference: str  # the commit SHA, the alias's version…
    detail: str  # in plain words, for the request page
    already: bool = False  # the target declared the approved version already: nothing was changed


def names_model(key: str, order: DeployOrder) -> bool:
    """Does the identity a target uses (`key`) name the ordered model (by slug or by name)?"""
    from django.utils.text import slugify

    key = (key or "").strip().lower()
    return bool(key) and (key in (order.model_slug, order.model_name.lower()) or slugify(key) == order.model_slug)
