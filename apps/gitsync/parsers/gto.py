"""GTO (Iterative's Git Tag Ops) conventions: tag names and artifact declarations.

Tag grammar follows gto/constants.py `tag_re` (iterative/gto):
    name@vX.Y.Z[#N]          register          name@vX.Y.Z![#N]   deregister
    name#stage[#N]           assign a stage    name#stage![#N]    unassign
    name@deprecated[#N]      deprecate the artifact
Names (artifact and stage) match `[a-z][a-z0-9-/]*[a-z0-9]`; versions are SemVer with a leading "v".
"""

import re
from dataclasses import dataclass, field

from ._yaml import DEFAULT_MAX_BYTES, Collector, ParseError, load

_NAME = r"[a-z][a-z0-9\-/]*[a-z0-9]"
_NUM = r"(?:0|[1-9]\d*)"
_PRE = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE}(?:\.{_PRE})*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
_TAG = re.compile(
    rf"^(?P<artifact>{_NAME})"
    rf"(?:(?:#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?)|@(?P<deprecated>deprecated))"
    r"(?:#(?P<counter>[0-9]+))?$"
)
NAME_RE = re.compile(rf"^{_NAME}$")

REGISTER, DEREGISTER, ASSIGN, UNASSIGN, DEPRECATE = "register", "deregister", "assign", "unassign", "deprecate"


@dataclass(frozen=True)
class GtoEvent:
    """What one GTO tag means for an artifact."""

    action: str
    artifact: str
    tag: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None
    message: str = ""


def parse_gto_tag(tag_name: str, message: str = "") -> GtoEvent | None:
    """Read a Git tag name as a GTO event; None when the tag is not a GTO tag."""
    match = _TAG.match(tag_name or "")
    if not match:
        return None
    counter = int(match["counter"]) if match["counter"] else None
    common = {"artifact": match["artifact"], "tag": tag_name, "counter": counter, "message": message}
    if match["deprecated"]:
        return GtoEvent(action=DEPRECATE, **common)
    cancelled = match["cancel"] == "!"
    if match["version"]:
        return GtoEvent(action=DEREGISTER if cancelled else REGISTER, version=match["version"], **common)
    return GtoEvent(action=UNASSIGN if cancelled else ASSIGN, stage=match["stage"], **common)


@dataclass
class ArtifactDecl:
    """An artifact declared in artifacts.yaml or dvc.yaml."""

    name: str
    type: str = ""
    path: str = ""
    description: str = ""
    labels: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass
class ArtifactsResult:
    artifacts: list[ArtifactDecl] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


# GTO's artifacts.yaml says "description"; DVC's dvc.yaml says "desc". Both keep free-form extras.
_GTO_KEYS = {"type", "path", "description", "labels", "virtual", "custom"}
_DVC_KEYS = {"type", "path", "desc", "labels", "meta"}


def parse_artifacts_yaml(
    text: str | bytes, path: str = "artifacts.yaml", max_bytes: int = DEFAULT_MAX_BYTES
) -> ArtifactsResult:
    """GTO's artifacts.yaml: a top-level mapping of artifact name → declaration."""
    loaded, errors = load(text, path, max_bytes)
    if loaded.lines is None:
        return ArtifactsResult(errors=errors)
    return _artifacts(loaded.data or {}, "", Collector(path, loaded), _GTO_KEYS, "description", errors)


def parse_dvc_yaml_artifacts(
    text: str | bytes, path: str = "dvc.yaml", max_bytes: int = DEFAULT_MAX_BYTES
) -> ArtifactsResult:
    """The `artifacts:` section of dvc.yaml; stages and the rest of the file are ignored."""
    loaded, errors = load(text, path, max_bytes)
    if loaded.lines is None:
        return ArtifactsResult(errors=errors)
    check = Collector(path, loaded)
    if not isinstance(loaded.data, dict):
        check.add("", "expected a mapping")
        return ArtifactsResult(errors=errors + check.errors)
    return _artifacts(loaded.data.get("artifacts") or {}, "artifacts", check, _DVC_KEYS, "desc", errors)


def _artifacts(data, prefix: str, check: Collector, keys: set, desc_key: str, errors: list) -> ArtifactsResult:
    result = ArtifactsResult(errors=list(errors))
    if not isinstance(data, dict):
        check.add(prefix, "expected a mapping of artifact name to declaration")
        result.errors += check.errors
        return result
    for name, raw in data.items():
        where = f"{prefix}.{name}" if prefix else str(name)
        before = len(check.errors)
        decl = _artifact(str(name), raw, where, check, keys, desc_key)
        if len(check.errors) == before:
            result.artifacts.append(decl)
    result.errors += check.errors
    return result


def _artifact(name: str, raw, where: str, check: Collector, keys: set, desc_key: str) -> ArtifactDecl:
    if not NAME_RE.match(name):
        check.add(
            where, f"artifact name {name!r} must be lowercase letters, digits, '-' or '/', starting with a letter"
        )
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        check.add(where, "expected a mapping with type, path, ...")
        return ArtifactDecl(name)
    check.unknown_keys(raw, keys, where)
    values = {}
    for key in ("type", "path", desc_key):
        value = raw.get(key, "")
        if not isinstance(value, str):
            check.add(f"{where}.{key}", f"{key} must be text")
            value = ""
        values[key] = value.strip()
    labels = raw.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        check.add(f"{where}.labels", "labels must be a list of non-empty strings")
        labels = []
    line = check.loaded.line(where)
    return ArtifactDecl(name, values["type"], values["path"], values[desc_key], labels, line)
