"""What an approver reads before deciding: metrics against thresholds, and what changes against what runs now."""

from . import policies, selectors

_COMPARED_FIELDS = (
    ("version", "Version"), ("artifact_digest", "Artifact digest"), ("git_commit_sha", "Git commit"),
    ("framework", "Framework"), ("artifact_uri", "Artifact URI"), ("training_data", "Training data"),
)  # fmt: skip


def build(request) -> dict:
    version = request.version
    thresholds = {rule["metric"]: rule for rule in (request.frozen_policy or {}).get("metric_thresholds", [])}
    baseline_request = selectors.currently_approved(version=version, environment=request.environment)
    baseline = baseline_request.version if baseline_request else None
    metrics = []
    for name in sorted(set(version.metrics) | set(thresholds) | set(baseline.metrics if baseline else {})):
        value = version.metrics.get(name)
        rule = thresholds.get(name)
        passed = None
        if rule is not None:
            passed = isinstance(value, (int, float)) and policies.OPERATORS[rule["op"]](value, rule["value"])
        before = baseline.metrics.get(name) if baseline else None
        delta = value - before if isinstance(value, (int, float)) and isinstance(before, (int, float)) else None
        metrics.append(
            {
                "name": name,
                "value": value,
                "threshold": f"{rule['op']} {rule['value']}" if rule else "",
                "passed": passed,
                "baseline": before,
                "delta": delta,
            }
        )
    changes = []
    if baseline:
        for field, label in _COMPARED_FIELDS:
            old, new = getattr(baseline, field), getattr(version, field)
            if old != new:
                changes.append({"label": label, "old": old, "new": new})
        changed_params = sorted(
            k
            for k in set(baseline.parameters) | set(version.parameters)
            if baseline.parameters.get(k) != version.parameters.get(k)
        )
        for key in changed_params:
            changes.append(
                {"label": f"parameter {key}", "old": baseline.parameters.get(key), "new": version.parameters.get(key)}
            )
    return {"metrics": metrics, "baseline": baseline, "baseline_request": baseline_request, "changes": changes,
            "thresholds": bool(thresholds)}  # fmt: skip
