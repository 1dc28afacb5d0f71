"""Presentation helpers for repositories, sync runs and the Git provenance of model versions."""

import json

from django import template
from django.utils.html import format_html

from apps.gitsync import git

register = template.Library()

STATUS_BADGES = {
    "succeeded": "success",
    "unchanged": "secondary",
    "warning": "warning",
    "failed": "danger",
    "running": "primary",
    "never": "light border",
}
STATUS_LABELS = {
    "succeeded": "Succeeded",
    "unchanged": "No changes",
    "warning": "Warnings",
    "failed": "Failed",
    "running": "Running",
    "never": "Never synced",
}
SECTIONS = {"mlflow": "MLflow", "huggingface": "Hugging Face model card"}
LABELS = {
    "flavors": "Flavors",
    "signature": "Signature",
    "run_id": "Run ID",
    "model_uuid": "Model UUID",
    "utc_time_created": "Created (UTC)",
    "mlflow_version": "MLflow version",
    "license": "License",
    "datasets": "Datasets",
    "base_model": "Base model",
    "language": "Language",
    "tags": "Tags",
    "pipeline_tag": "Pipeline",
    "library_name": "Library",
    "metrics": "Metrics",
    "inputs": "Inputs",
    "outputs": "Outputs",
    "params": "Parameters",
}


@register.filter
def sync_badge(status: str):
    """The status of a repository or a run as a coloured badge."""
    return format_html(
        '<span class="badge text-bg-{} sync-status" data-status="{}">{}</span>',
        STATUS_BADGES.get(status, "secondary"),
        status,
        STATUS_LABELS.get(status, status),
    )


@register.filter
def redact_url(url: str) -> str:
    return git.redact(url or "")


@register.filter
def short_sha(sha: str) -> str:
    return (sha or "")[:8]


@register.filter
def duration(value) -> str:
    """A timedelta as "0.4 s", "12 s", "3 min 5 s", "1 h 2 min"."""
    if value is None:
        return "—"
    seconds = max(value.total_seconds(), 0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _describe(value, nested: bool = True) -> tuple[str, object]:
    """How to show one metadata value: (kind, value), kind one of text, list, columns, pairs, nested, json."""
    if value in (None, "", [], {}):
        return "text", "—"
    if _is_scalar(value):
        return "text", str(value)
    if isinstance(value, list) and all(_is_scalar(item) for item in value):
        return "list", [str(item) for item in value]
    if isinstance(value, list) and all(isinstance(item, dict) and "type" in item for item in value):
        # An MLflow column or tensor spec: [{"name": "age", "type": "double"}, ...]
        return "columns", [(str(item.get("name", "—")), str(item["type"])) for item in value]
    if nested and isinstance(value, dict) and set(value) <= {"inputs", "outputs", "params"}:
        return "nested", _rows(value, nested=False)  # an MLflow signature
    if isinstance(value, dict) and all(_is_scalar(item) for item in value.values()):
        return "pairs", [(str(key), "—" if item is None else str(item)) for key, item in value.items()]
    return "json", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _rows(mapping: dict, nested: bool = True) -> list[tuple[str, str, object]]:
    return [(LABELS.get(key, str(key)), *_describe(value, nested)) for key, value in mapping.items()]


@register.filter
def metadata_sections(metadata) -> list[tuple[str, list]]:
    """A version's `source_metadata` as titled sections of (label, kind, value) rows; unknown keys shown as found."""
    if not isinstance(metadata, dict) or not metadata:
        return []
    sections, loose = [], {}
    for key, value in metadata.items():
        if isinstance(value, dict) and value:
            sections.append((SECTIONS.get(key, str(key)), _rows(value)))
        else:
            loose[key] = value
    if loose:
        sections.append(("Other", _rows(loose)))
    return sections
