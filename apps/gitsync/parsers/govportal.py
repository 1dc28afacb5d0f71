"""GovPortal's own `govportal.yaml`: the models a repository declares, validated field by field."""

import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from apps.inventory.models import RiskTier
from apps.inventory.validators import (
    normalize_digest,
    validate_digest,
    validate_metrics,
    validate_parameters,
    validate_version,
)

from ._yaml import DEFAULT_MAX_BYTES, Collector, ParseError, load

MODEL_KEYS = {"name", "team", "risk_tier", "intended_use", "versions"}
VERSION_KEYS = {"version", "artifact_uri", "artifact_digest", "metrics", "parameters", "model_card"}


@dataclass
class VersionSpec:
    """One version as declared in govportal.yaml, already normalised."""

    version: str
    artifact_uri: str = ""
    artifact_digest: str = ""
    metrics: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    model_card: str = ""
    line: int | None = None


@dataclass
class ModelSpec:
    """One model as declared in govportal.yaml."""

    name: str
    team: str
    risk_tier: str
    intended_use: str = ""
    versions: list[VersionSpec] = field(default_factory=list)
    line: int | None = None


@dataclass
class ParseResult:
    models: list[ModelSpec] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


def parse_govportal_yaml(
    text: str | bytes, path: str = "govportal.yaml", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParseResult:
    """Return the valid models; a model with any error is skipped and its errors reported."""
    loaded, errors = load(text, path, max_bytes)
    result = ParseResult(errors=list(errors))
    if errors and loaded.lines is None:
        return result
    data = loaded.data
    top = Collector(path, loaded)
    if not isinstance(data, dict):
        top.add("", "expected a mapping with a 'models' list")
        result.errors += top.errors
        return result
    top.unknown_keys(data, {"models"}, "")
    models = data.get("models")
    if not isinstance(models, list):
        top.add("models", "expected a list of models")
        models = []
    result.errors += top.errors
    seen_names = set()
    for index, raw in enumerate(models):
        check = Collector(path, loaded)
        spec = _model(raw, f"models[{index}]", check)
        if spec and spec.name.casefold() in seen_names:
            check.add(f"models[{index}].name", f"model {spec.name!r} is declared twice")
        result.errors += check.errors
        if spec and not check.errors:
            seen_names.add(spec.name.casefold())
            result.models.append(spec)
    return result


def _model(raw, prefix: str, check: Collector) -> ModelSpec | None:
    if not isinstance(raw, dict):
        check.add(prefix, "expected a mapping with name, team, risk_tier, ...")
        return None
    check.unknown_keys(raw, MODEL_KEYS, prefix)
    name = _text(raw, "name", prefix, check, required=True, max_length=120)
    team = _text(raw, "team", prefix, check, required=True, max_length=100)
    if team:
        try:
            validate_slug(team)
        except ValidationError:
            check.add(f"{prefix}.team", f"team {team!r} must be a slug (letters, digits, '-' or '_')")
    risk_tier = _text(raw, "risk_tier", prefix, check, required=True, max_length=10)
    if risk_tier and risk_tier not in RiskTier.values:
        check.add(f"{prefix}.risk_tier", f"risk_tier must be one of {', '.join(RiskTier.values)}, not {risk_tier!r}")
    intended_use = _text(raw, "intended_use", prefix, check, max_length=5000)
    versions = raw.get("versions", [])
    if not isinstance(versions, list):
        check.add(f"{prefix}.versions", "expected a list of versions")
        versions = []
    specs, seen = [], set()
    for index, item in enumerate(versions):
        spec = _version(item, f"{prefix}.versions[{index}]", check)
        if spec and spec.version in seen:
            check.add(f"{prefix}.versions[{index}].version", f"version {spec.version!r} is declared twice")
        if spec:
            seen.add(spec.version)
            specs.append(spec)
    line = check.loaded.line(prefix)
    return ModelSpec(name or "", team or "", risk_tier or "", intended_use or "", specs, line)


def _version(raw, prefix: str, check: Collector) -> VersionSpec | None:
    if not isinstance(raw, dict):
        check.add(prefix, "expected a mapping with version, artifact_uri, ...")
        return None
    check.unknown_keys(raw, VERSION_KEYS, prefix)
    # An unquoted 1.10 loads as the float 1.1; the raw scalar keeps what the author typed.
    version = raw.get("version")
    if version is not None and not isinstance(version, (dict, list)):
        version = check.loaded.raw.get(f"{prefix}.version", str(version))
    if not isinstance(version, str) or not version:
        check.add(f"{prefix}.version", "version is required")
        version = ""
    else:
        try:
            validate_version(version)
        except ValidationError as exc:
            check.add(f"{prefix}.version", exc.messages[0])
    artifact_uri = _text(raw, "artifact_uri", prefix, check, max_length=1000) or ""
    digest = _text(raw, "artifact_digest", prefix, check, max_length=71) or ""
    digest = normalize_digest(digest)
    try:
        validate_digest(digest)
    except ValidationError as exc:
        check.add(f"{prefix}.artifact_digest", exc.messages[0])
    metrics = raw.get("metrics") or {}
    try:
        validate_metrics(metrics)
    except ValidationError as exc:
        check.add(f"{prefix}.metrics", exc.messages[0])
    parameters = raw.get("parameters") or {}
    try:
        validate_parameters(parameters)
    except ValidationError as exc:
        check.add(f"{prefix}.parameters", exc.messages[0])
    model_card = _text(raw, "model_card", prefix, check, max_length=300) or ""
    if model_card and not _is_safe_relative(model_card):
        check.add(f"{prefix}.model_card", f"model_card {model_card!r} must be a relative path inside the repository")
    line = check.loaded.line(prefix)
    return VersionSpec(version, artifact_uri, digest, metrics, parameters, model_card, line)


def _text(raw: dict, key: str, prefix: str, check: Collector, *, required=False, max_length: int) -> str | None:
    value = raw.get(key)
    field_name = f"{prefix}.{key}"
    if value is None or value == "":
        if required:
            check.add(field_name, f"{key} is required")
        return None
    not_finite = isinstance(value, float) and not math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not_finite:
        check.add(field_name, f"{key} must be text")
        return None
    value = str(value).strip()
    if required and not value:
        check.add(field_name, f"{key} is required")
        return None
    if len(value) > max_length:
        check.add(field_name, f"{key} is {len(value)} characters, over the limit of {max_length}")
        return None
    return value


def _is_safe_relative(value: str) -> bool:
    normalised = value.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return False
    return ".." not in PurePosixPath(normalised).parts
