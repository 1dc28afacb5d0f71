"""Deployment targets: define, edit and ask to observe them; checked, written and audited together."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts import credentials, permissions
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import diff, record

from .adapters import adapter_for
from .models import DeploymentTarget, TargetKind

logger = logging.getLogger(__name__)
TARGET_FIELDS = ("name", "environment", "team", "kind", "config", "credential", "enabled", "interval_seconds")
QUEUE_STALE_AFTER = timedelta(minutes=10)  # a queued observation no worker started by then is presumed lost
MIN_INTERVAL, MAX_INTERVAL = 30, 86_400


def _snapshot(target: DeploymentTarget) -> dict:
    return {
        "name": target.name,
        "environment": target.environment.name if target.environment_id else None,
        "team": target.team.name if target.team_id else None,
        "kind": target.kind,
        "config": target.config,
        "credential": target.credential.name if target.credential_id else None,
        "enabled": target.enabled,
        "interval_seconds": target.interval_seconds,
    }


def target_check(target: DeploymentTarget) -> None:
    """Check a target before it is saved; ValidationError naming each bad field in plain words."""
    errors: dict[str, list[str]] = {}
    target.name = (target.name or "").strip()
    if target.kind not in TargetKind.values:
        errors["kind"] = [f"Unknown kind {target.kind!r}; choose one of {', '.join(TargetKind.values)}."]
    else:
        try:
            target.config = adapter_for(target.kind).clean_config(target.config)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not MIN_INTERVAL <= (target.interval_seconds or 0) <= MAX_INTERVAL:
        errors["interval_seconds"] = [f"Observe every {MIN_INTERVAL} to {MAX_INTERVAL} seconds."]
    if target.credential_id and not errors and target.team_id:
        try:
            credentials.check_use(
                target.credential, team=target.team, url=adapter_for(target.kind).endpoint(target.config)
            )
        except credentials.CredentialError as exc:
            errors["credential"] = [f"{str(exc)[0].upper()}{str(exc)[1:]}."]
    try:
        target.full_clean(exclude=[*errors, "config"])
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def target_save(*, actor: Actor, target: DeploymentTarget | None = None, **fields) -> DeploymentTarget:
    """Define or edit a deployment target (portal admins). One `target.created`/`target.updated` event with the diff,
    or nothing when nothing changed."""
    permissions.require_portal_admin(actor.user, "Only portal administrators define deployment targets.")
    unknown = set(fields) - set(TARGET_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown target fields: {', '.join(sorted(unknown))}.")
    created = target is None or target.pk is None
    if created:
        target, before = target or DeploymentTarget(), {}
    else:
        target = DeploymentTarget.objects.select_for_update().get(pk=target.pk)
        before = _snapshot(target)
    for field, value in fields.items():
        setattr(target, field, value)
    target_check(target)
    after = _snapshot(target)
    changes = {key: [before.get(key), value] for key, value in after.items()} if created else diff(before, after)
    if not changes:
        return target
    target.save()
    record(action=Action.TARGET_CREATED if created else Action.TARGET_UPDATED, actor=actor, target=target,
           changes=changes)  # fmt: skip
    return target


def claim_queue_slot(target_id: int) -> bool:
    """Mark an observation as queued; False when one is queued already (the request joins it)."""
    now = timezone.now()
    free = Q(observe_queued_at__isnull=True) | Q(observe_queued_at__lt=now - QUEUE_STALE_AFTER)
    return DeploymentTarget.objects.filter(free, pk=target_id).update(observe_queued_at=now) == 1


def target_request_observe(*, actor: Actor, target: DeploymentTarget) -> bool:
    """ "Observe now": queue an observation (portal admins and the operating team's admins); audited.

    True when queued, False when it joined one already waiting.
    """
    permissions.require(actor.user, permissions.MANAGE_TEAM, target, f"You may not observe {target.name}.")
    if not target.enabled:
        raise ValidationError(f"{target.name} is disabled; enable it before observing it.")
    with transaction.atomic():
        queued = claim_queue_slot(target.pk)
        record(action=Action.TARGET_OBSERVE_REQUESTED, actor=actor, target=target,
               changes={"coalesced": [None, not queued]})  # fmt: skip
        if queued:
            transaction.on_commit(lambda: _send(target.pk, "manual", actor.label))
    return queued


def _send(target_id: int, trigger: str, requested_by: str) -> None:
    """Hand the observation to the broker; if it is down, free the queue slot so the next request can try again."""
    from .tasks import observe_target_task

    try:
        observe_target_task.delay(target_id, trigger, requested_by)
    except Exception:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            logger.exception("could not queue the observation of target %s", target_id)
            DeploymentTarget.objects.filter(pk=target_id).update(observe_queued_at=None)
            return
        raise
