"""Observation tasks: thin and idempotent. Arguments are ids; the observing module does the work."""

import random

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse


@shared_task(bind=True, acks_late=True, max_retries=5, soft_time_limit=540, time_limit=570)
def observe_target_task(self, target_id: int, trigger: str = "schedule", requested_by: str = "") -> str | None:
    """Observe one target. A transient failure (network, server busy) is retried with backoff and jitter; the
    target's status already says `unknown` with the reason meanwhile. In-process (no broker) it is not retried."""
    from apps.core import request_context

    from .observing import TransientTargetError, observe_target

    try:
        with request_context.bind(source="task"):
            target = observe_target(target_id, trigger=trigger, requested_by=requested_by)
    except TransientTargetError as exc:
        if self.request.is_eager:
            return "unknown"
        delay = min(900, 30 * 2**self.request.retries)
        jitter = random.randint(0, delay // 4)  # noqa: S311 — spreading retries, not a secret
        raise self.retry(exc=exc, countdown=delay + jitter) from exc
    return target.last_status if target else None


@shared_task(acks_late=True)
def observe_due_targets_task() -> int:
    """The beat entry point: one observation task per enabled target whose interval has passed; then pending
    rollouts whose grace ran out turn overdue."""
    from django.db.models import DurationField, ExpressionWrapper, F, IntegerField, Q
    from django.db.models.functions import Cast
    from django.utils import timezone

    from .models import DeploymentTarget
    from .observing import refresh_due
    from .rollouts import rollouts_requeue_stalled
    from .services import claim_queue_slot

    now = timezone.now()
    # Cast: SQLite multiplies a duration only by a plain IntegerField, not a PositiveIntegerField column.
    seconds = Cast("interval_seconds", IntegerField())
    interval = ExpressionWrapper(seconds * timezone.timedelta(seconds=1), output_field=DurationField())
    due = DeploymentTarget.objects.filter(enabled=True).annotate(every=interval).filter(
        Q(last_observed_at__isnull=True) | Q(last_observed_at__lte=now - F("every"))
    )  # fmt: skip
    queued = 0
    for pk in due.values_list("pk", flat=True):
        if claim_queue_slot(pk):
            observe_target_task.delay(pk, "schedule", "beat")
            queued += 1
    refresh_due(now)
    rollouts_requeue_stalled(now)
    return queued


@shared_task(acks_late=True)
def drift_refresh_task(model_id: int, environment_id: int) -> int:
    """Re-judge one (model, environment), e.g. once a request for it is approved."""
    from django.db import transaction

    from .observing import drift_refresh

    with transaction.atomic():
        return drift_refresh(environment_ids={environment_id}, model_ids={model_id})


@shared_task(acks_late=True)
def notify_drift_task(model_id: int, environment_id: int, before: str | None, after: str | None) -> int:
    """E-mail the model's owners and its team's admins that drift was found or resolved."""
    from django.contrib.auth import get_user_model

    from apps.accounts import permissions
    from apps.inventory.models import Environment, RegisteredModel

    from .models import DriftStatus

    model = RegisteredModel.objects.filter(pk=model_id).first()
    environment = Environment.objects.filter(pk=environment_id).first()
    if model is None or environment is None:
        return 0
    admins = permissions.holders(permissions.MANAGE_TEAM, team_id=model.team_id).values("user_id")  # the team's admins
    people = get_user_model().objects.filter(is_active=True).filter(
        pk__in=list(model.owners.values_list("pk", flat=True)) + [row["user_id"] for row in admins]
    )  # fmt: skip
    recipients = sorted({person.email for person in people if person.email})
    if not recipients:
        return 0
    labels = dict(DriftStatus.choices)
    now_label = labels.get(after, after) if after else "resolved"
    subject = f"[GovPortal] {model.name} in {environment.name}: {now_label}"
    url = settings.PORTAL_BASE_URL.rstrip("/") + reverse("inventory:model-detail", args=[model.slug])
    body = (
        f"What runs for {model.name} in {environment.name} changed from "
        f"{labels.get(before, before) if before else 'nothing tracked'} to {now_label}.\n\n"
        f"See the model's deployments and the evidence: {url}\n"
    )
    return EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, recipients).send()


@shared_task(bind=True, acks_late=True, max_retries=8, soft_time_limit=300, time_limit=330)
def rollout_task(self, rollout_id: int) -> str | None:
    """Deploy one rollout (exactly once: see apps.deployments.rollouts). Transient failures retry with backoff."""
    from apps.core import request_context

    from .rollouts import TransientRolloutError, rollout_run

    try:
        with request_context.bind(source="task"):
            rollout = rollout_run(rollout_id)
    except TransientRolloutError as exc:
        if self.request.is_eager:
            return "queued"
        raise self.retry(exc=exc, countdown=exc.delay) from exc
    return rollout.status if rollout else None


@shared_task(acks_late=True)
def notify_rollout_failed_task(rollout_id: int) -> int:
    """Tell the requester (or the portal admin who recorded a break-glass) that the rollout failed, and why."""
    from .models import Rollout, RolloutStatus

    rollout = Rollout.objects.select_related("request__requester", "break_glass__recorded_by", "version__model",
                                             "target").filter(pk=rollout_id).first()  # fmt: skip
    if rollout is None or rollout.status != RolloutStatus.FAILED:
        return 0
    person = rollout.request.requester if rollout.request_id else rollout.break_glass.recorded_by
    if not person.email:
        return 0
    if rollout.request_id:
        path = reverse("approvals:request-detail", args=[rollout.request_id])
    else:
        path = reverse("inventory:model-detail", args=[rollout.version.model.slug])
    subject = f"[GovPortal] Rollout failed: {rollout.version.model.name} {rollout.version.version} → {rollout.target}"
    body = (
        f"The portal could not deploy {rollout.version.model.name} {rollout.version.version} through "
        f"{rollout.target}:\n\n{rollout.detail}\n\nDetails: {settings.PORTAL_BASE_URL.rstrip('/')}{path}\n"
    )
    return EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [person.email]).send()
