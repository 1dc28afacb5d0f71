"""Break-glass: an emergency deployment without approval, on the record until a post-hoc approval settles it.

A portal admin records it with a mandatory reason and the version: the portal deploys it through the
environment's deploying targets, or it is recorded as deployed by hand. It stays an open exception until a request
for the same version and environment is approved; a rejected (or withdrawn, expired) post-hoc request leaves it open
and says so. Every step is an audit event.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import permissions
from apps.approvals.models import RequestState
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record

from .models import BreakGlass, DeploymentTarget
from .rollouts import DEPLOYER, deploying_kinds, rollouts_create

REASON_LIMIT = 5000


@transaction.atomic
def break_glass_record(*, actor: Actor, version, environment, reason: str, deploy: bool) -> BreakGlass:
    """Record an emergency deployment of `version` to `environment` (portal admins only); deploy it when asked."""
    permissions.require_portal_admin(actor.user, "Only portal administrators record emergency deployments.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why this could not wait for an approval; the reason goes on record."]})
    if len(reason) > REASON_LIMIT or "\x00" in reason:
        raise ValidationError({"reason": [f"Keep the reason under {REASON_LIMIT} characters, in plain text."]})
    if (
        deploy
        and not DeploymentTarget.objects.filter(
            environment=environment, enabled=True, kind__in=deploying_kinds()
        ).exists()
    ):
        raise ValidationError({"deploy": [f"No target in {environment} can deploy: record it as deployed by hand."]})
    glass = BreakGlass.objects.create(
        version=version, environment=environment, reason=reason, deployed_by_portal=deploy, recorded_by=actor.user
    )
    record(action=Action.BREAK_GLASS_RECORDED, actor=actor, target=glass, changes={
        "model": [None, version.model.name], "version": [None, version.version],
        "environment": [None, environment.name], "reason": [None, reason],
        "deployed": [None, "through the portal" if deploy else "by hand"],
    })  # fmt: skip
    if deploy:
        rollouts_create(break_glass=glass, version=version, environment=environment)
    return glass


@transaction.atomic
def post_hoc_settled(request) -> int:
    """A request for a version and environment ended: close the open break-glass records it approves, or note that
    it did not. Returns how many records changed."""
    open_records = BreakGlass.objects.select_for_update().filter(
        version_id=request.version_id, environment_id=request.environment_id, closed_at__isnull=True
    )
    changed = 0
    for glass in open_records:
        approved = request.state == RequestState.APPROVED
        outcome = "approved" if approved else request.state
        if glass.post_hoc_request_id == request.pk and glass.post_hoc_outcome == outcome:
            continue
        glass.post_hoc_request, glass.post_hoc_outcome = request, outcome
        glass.closed_at = timezone.now() if approved else None
        glass.save(update_fields=["post_hoc_request", "post_hoc_outcome", "closed_at"])
        record(action=Action.BREAK_GLASS_POST_HOC, actor=DEPLOYER, target=glass, changes={
            "request": [None, request.pk], "outcome": [None, outcome],
            "open": [True, not approved],
        })  # fmt: skip
        changed += 1
    return changed
