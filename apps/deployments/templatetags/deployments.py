"""Deployments on other apps' pages, and its badges: inventory's model and version pages `{% load deployments %}`
and place these blocks (inventory sits below deployments, so it cannot import it; the template reaches up)."""

import json

from django import template
from django.utils.html import format_html

from .. import selectors
from ..forms import PointInTimeForm
from ..models import DriftStatus, RolloutStatus, TargetStatus

register = template.Library()

DRIFT_BADGES = {
    DriftStatus.IN_SYNC: "success",
    DriftStatus.ROLLOUT_PENDING: "info",
    DriftStatus.ROLLOUT_OVERDUE: "warning",
    DriftStatus.UNAPPROVED: "danger",
    DriftStatus.DIGEST_MISMATCH: "danger",
    DriftStatus.RETIRED_BUT_RUNNING: "danger",
    DriftStatus.UNKNOWN: "secondary",
}
TARGET_BADGES = {TargetStatus.OK: "success", TargetStatus.UNKNOWN: "warning", TargetStatus.NEVER: "light border"}


@register.filter
def drift_badge(state):
    """A DriftState (or a bare status) as a coloured badge; the reason shows on hover."""
    status = getattr(state, "status", state)
    if not status:
        return format_html('<span class="badge text-bg-light border drift-status" data-status="">{}</span>', "—")
    return format_html(
        '<span class="badge text-bg-{} drift-status" data-status="{}" title="{}">{}</span>',
        DRIFT_BADGES.get(status, "secondary"), status, getattr(state, "reason", ""),
        DriftStatus(status).label if status in DriftStatus.values else status,
    )  # fmt: skip


@register.filter
def target_badge(status: str):
    return format_html(
        '<span class="badge text-bg-{} target-status" data-status="{}">{}</span>',
        TARGET_BADGES.get(status, "secondary"), status,
        TargetStatus(status).label if status in TargetStatus.values else status,
    )  # fmt: skip


@register.filter
def redacted_config(config) -> str:
    """A target's configuration as indented JSON, any user-info in URLs replaced (it holds no secret by rule)."""
    return json.dumps(selectors.public_config(config), indent=2, sort_keys=True, ensure_ascii=False)


@register.simple_tag
def model_page_deployments(model, versions):
    """Read once what the model page shows of deployments: `.badges` ({version id: [{environment, running,
    title}]}, where each listed version is approved and where it runs now, like a registry's stage badges) and what
    {% model_deployments %} shows. Four queries, whatever the number of versions."""
    return selectors.model_page_deployments(model=model, version_ids=[version.pk for version in versions])


@register.inclusion_tag("deployments/_model_deployments.html", takes_context=True)
def model_deployments(context, model, deployments):
    """The model page's block: per environment, what runs now and since when, what is approved, the status; and
    the point-in-time question. `deployments`: what {% model_page_deployments %} read."""
    cells = deployments.cells
    targets = {row.target_id for cell in cells for row in cell.running}
    initial = {"environment": cells[0].environment.slug if cells else None}
    return {
        "model": model,
        "cells": cells,
        "visible_targets": selectors.visible_target_ids(user=context["request"].user, target_ids=targets),
        "form": PointInTimeForm(initial=initial, environments=deployments.environments),
    }


@register.inclusion_tag("deployments/_version_deployments.html", takes_context=True)
def version_deployments(context, version):
    """The version page's block: where this version runs now, since when, and its model's status there."""
    rows = selectors.version_deployments(version=version)
    targets = {row.target_id for row, _state in rows}
    return {
        "version": version,
        "rows": rows,
        "visible_targets": selectors.visible_target_ids(user=context["request"].user, target_ids=targets),
    }


@register.inclusion_tag("deployments/_request_rollouts.html", takes_context=True)
def request_rollouts(context, request):
    """The request page's block: how the approved request was rolled out through each deploying target."""
    rollouts = list(selectors.request_rollouts(request=request))
    targets = {rollout.target_id for rollout in rollouts}
    return {
        "deployment_request": request,
        "rollouts": rollouts,
        "visible_targets": selectors.visible_target_ids(user=context["request"].user, target_ids=targets),
    }


@register.filter
def rollout_badge(status: str):
    classes = {"queued": "text-bg-secondary", "running": "text-bg-info", "succeeded": "text-bg-success",
               "failed": "text-bg-danger"}  # fmt: skip
    label = dict(RolloutStatus.choices).get(status, status)
    return format_html('<span class="badge {} rollout-status" data-status="{}">{}</span>', classes.get(status, ""),
                       status, label)  # fmt: skip


@register.filter
def lookup(mapping, key):
    return (mapping or {}).get(key, ())
