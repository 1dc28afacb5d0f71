"""Version metadata from files other tools write: MLflow `MLmodel` and Hugging Face model cards."""

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field

from ._yaml import DEFAULT_MAX_BYTES, Collector, ParseError, decode, load


@dataclass
class MetadataResult:
    metadata: dict = field(default_factory=dict)
    errors: list[ParseError] = field(default_factory=list)


def parse_mlmodel(text: str | bytes, path: str = "MLmodel", max_bytes: int = DEFAULT_MAX_BYTES) -> MetadataResult:
    """Flavors, signature, run id, model UUID and creation time of an MLflow model."""
    loaded, errors = load(text, path, max_bytes)
    if loaded.lines is None:
        return MetadataResult(errors=errors)
    check = Collector(path, loaded)
    data = loaded.data
    if not isinstance(data, dict):
        check.add("", "expected a mapping (an MLflow MLmodel file)")
        return MetadataResult(errors=errors + check.errors)
    flavors = data.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        check.add("flavors", "an MLmodel file needs a 'flavors' mapping")
        flavors = {}
    signature = data.get("signature") or {}
    if not isinstance(signature, dict):
        check.add("signature", "signature must be a mapping with inputs and outputs")
        signature = {}
    metadata = {
        "flavors": sorted(str(name) for name in flavors),
        "signature": {key: _json_or_text(signature.get(key)) for key in ("inputs", "outputs", "params")},
        # Read the raw scalars: unquoted timestamps and hex-looking ids must stay as written.
        "run_id": _raw(loaded, "run_id"),
        "model_uuid": _raw(loaded, "model_uuid"),
        "utc_time_created": _raw(loaded, "utc_time_created"),
        "mlflow_version": _raw(loaded, "mlflow_version"),
    }
    return MetadataResult(metadata=metadata, errors=errors + check.errors)


def _raw(loaded, key: str) -> str:
    value = loaded.raw.get(key, "")
    return "" if value in ("null", "~") else value


def _json_or_text(value):
    """MLflow stores the schema as a JSON string inside YAML; parse it when it is valid JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", re.DOTALL | re.MULTILINE)
CARD_KEYS = ("license", "datasets", "base_model", "language", "tags", "pipeline_tag", "library_name")


def parse_hf_model_card(
    text: str | bytes, path: str = "README.md", max_bytes: int = DEFAULT_MAX_BYTES
) -> MetadataResult:
    """The YAML front matter of a Hugging Face README, with `model-index` metrics flattened."""
    source, errors = decode(text, path, max_bytes)
    if source is None:
        return MetadataResult(errors=errors)
    match = _FRONT_MATTER.match(source)
    if not match:
        return MetadataResult()
    loaded, errors = load(match.group(1), path, max_bytes)
    # The front matter starts on line 2 of the README.
    errors = [dataclasses.replace(error, line=error.line + 1 if error.line else None) for error in errors]
    if loaded.lines is None:
        return MetadataResult(errors=errors)
    data = loaded.data or {}
    if not isinstance(data, dict):
        return MetadataResult(errors=[*errors, ParseError(path, 2, "", "front matter must be a YAML mapping")])
    metadata = {key: data[key] for key in CARD_KEYS if key in data}
    for key in ("datasets", "tags", "language"):
        if isinstance(metadata.get(key), str):
            metadata[key] = [metadata[key]]
    metadata["metrics"] = _flatten_model_index(data.get("model-index"))
    return MetadataResult(metadata=metadata, errors=errors)


def _flatten_model_index(model_index) -> dict:
    """[{"results": [{"metrics": [{"type": "accuracy", "value": 0.9}]}]}] → {"accuracy": 0.9}.

    When several results report the same metric (e.g. two datasets) the first one wins.
    """
    metrics = {}
    for entry in model_index if isinstance(model_index, list) else []:
        results = entry.get("results") if isinstance(entry, dict) else None
        for result in results if isinstance(results, list) else []:
            items = result.get("metrics") if isinstance(result, dict) else None
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict):
                    continue
                name, value = item.get("type") or item.get("name"), item.get("value")
                if not name or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if math.isfinite(value):
                    metrics.setdefault(str(name), value)
    return metrics
