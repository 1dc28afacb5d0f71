"""Rollouts: an approved request deploys itself through the environment's targets, exactly once.

1. In the approving transaction (the `request_approved` signal) one Rollout row per deploying target is made; the
   (request, target) pair is unique, so a second approval or signal changes nothing.
2. After commit a task is queued. A worker claims the row (a conditional UPDATE, with a lease), records
   `deployment.started`, and asks the target's adapter to deploy exactly the approved version and digest, with no
   transaction open. The adapter is idempotent: a target that already declares the approved version is left as it
   is, so a rollout re-run after a worker died mid-way finishes without deploying twice.
3. The outcome is recorded in one transaction: `deployment.succeeded` (and an observation queued to confirm it) or
   `deployment.failed` (e-mailed to the requester). Transient failures go back to the queue and are retried with
   backoff; a rollout whose worker vanished is picked up again by the scheduler once its lease runs out.
"""

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts import credentials
from apps.approvals.models import DeploymentRequest, RequestState
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record

from .adapters import ADAPTERS, DeployOrder, TargetError, adapter_for
from .models import DeploymentTarget, Rollout, RolloutStatus

logger = logging.getLogger(__name__)
DEPLOYER = Actor.system("deployer")
MAX_ATTEMPTS = 6


class TransientRolloutError(Exception):
    """The target could not be changed for a reason worth retrying; the rollout is queued again, due in `delay`
    seconds (exponential backoff with jitter)."""

    def __init__(self, message: str, delay: int):
        super().__init__(message)
        self.delay = delay


def backoff(attempt: int) -> int:
    """Seconds before attempt `attempt` + 1: 30 s doubling to 15 min, plus up to a quarter of jitter."""
    delay = min(900, 30 * 2 ** max(attempt - 1, 0))
    return delay + random.randint(0, delay // 4)  # noqa: S311 — spreading retries, not a secret


def deploying_kinds() -> set[str]:
    """The target kinds whose adapter can deploy (the others only observe)."""
    return {kind for kind in ADAPTERS if hasattr(adapter_for(kind), "deploy")}


def lease() -> timedelta:
    return timedelta(seconds=settings.ROLLOUT_LEASE_SECONDS)


def rollouts_create(*, request: DeploymentRequest = None, break_glass=None, version=None, environment=None) -> list:
    """Make the rollouts for an approved request (or a break-glass record) in the caller's transaction, and queue
    them once it commits. Targets that only observe get none."""
    version = version or request.version
    environment_id = environment.pk if environment else request.environment_id
    digest = ((request.subject or {}).get("artifact_digest") if request else version.artifact_digest) or ""
    targets = DeploymentTarget.objects.filter(environment_id=environment_id, enabled=True, kind__in=deploying_kinds())
    made = []
    for target in targets:
        authority = {"request": request} if request else {"break_glass": break_glass}
        rollout, created = Rollout.objects.get_or_create(
            **authority, target=target, defaults={"version": version, "digest": digest.removeprefix("sha256:")}
        )
        if created:
            made.append(rollout)
    ids = [rollout.pk for rollout in made]
    if ids:
        transaction.on_commit(lambda: _queue(ids))
    return made


def _queue(ids) -> None:
    from .tasks import rollout_task

    for pk in ids:
        try:
            rollout_task.delay(pk)
        except Exception:  # the broker is down: the scheduler's sweep queues it again
            if settings.CELERY_TASK_ALWAYS_EAGER:
                raise
            logger.exception("could not queue rollout %s; the sweep will", pk)


def _claim(rollout_id: int) -> Rollout | None:
    """Take the rollout for this worker: queued, or running under a lease that ran out (its worker died)."""
    now = timezone.now()
    due = Q(retry_at__isnull=True) | Q(retry_at__lte=now)  # a retry waits out its backoff, however it is queued
    claimable = Q(due, status=RolloutStatus.QUEUED) | Q(status=RolloutStatus.RUNNING, claimed_until__lt=now)
    with transaction.atomic():
        taken = Rollout.objects.filter(claimable, pk=rollout_id).update(
            status=RolloutStatus.RUNNING, claimed_until=now + lease(), attempts=F("attempts") + 1, started_at=now
        )
        if not taken:
            return None
        rollout = Rollout.objects.select_related(
            "request__requester", "break_glass", "target__team", "target__credential", "version__model"
        ).get(pk=rollout_id)
        record(action=Action.DEPLOYMENT_STARTED, actor=DEPLOYER, target=rollout, changes={
            "target": [None, rollout.target.name], "version": [None, rollout.version.version],
            "attempt": [None, rollout.attempts],
        })  # fmt: skip
    return rollout


def _authority_error(rollout: Rollout) -> str | None:
    """Why this rollout may no longer deploy (its request is not approved any more), or None."""
    if rollout.request_id:
        request = DeploymentRequest.objects.get(pk=rollout.request_id)
        if request.state != RequestState.APPROVED:
            return f"request #{request.pk} is {request.get_state_display().lower()}, not approved: nothing deployed"
        return None
    if rollout.break_glass.closed_at is not None and not rollout.break_glass.deployed_by_portal:
        return "the break-glass record does not ask the portal to deploy"
    return None


def _order(rollout: Rollout) -> DeployOrder:
    version, model = rollout.version, rollout.version.model
    env = rollout.target.environment.name
    if rollout.request_id:
        request = rollout.request
        decisions = request.decisions.select_related("approver").filter(outcome="approve", voided_at__isnull=True)
        approvers = [
            f"Approved-by: {d.printed_name or d.approver.username} <{d.approver.email or d.approver.username}>"
            for d in decisions.order_by("decided_at")
        ]
        body = (
            f"Deploy {model.name} {version.version} to {env} (request #{request.pk})\n\n"
            f"Approved in GovPortal: {settings.PORTAL_BASE_URL.rstrip('/')}/approvals/requests/{request.pk}/\n"
            f"Subject hash: {request.subject_hash}\n\nGovPortal-Request: {request.pk}\n" + "\n".join(approvers) + "\n"
        )
    else:
        glass = rollout.break_glass
        body = (
            f"Emergency deployment of {model.name} {version.version} to {env} (break-glass #{glass.pk})\n\n"
            f"Reason: {glass.reason}\nRecorded by: {glass.recorded_by.get_full_name() or glass.recorded_by.username}"
            f"\n\nGovPortal-Break-Glass: {glass.pk}\n"
        )
    return DeployOrder(
        model_slug=model.slug, model_name=model.name, version=version.version, digest=rollout.digest,
        artifact_uri=version.artifact_uri, message=body, author=("GovPortal", settings.DEFAULT_FROM_EMAIL),
    )  # fmt: skip


def rollout_run(rollout_id: int) -> Rollout | None:
    """Deploy one rollout if it is this worker's to do; None when it is done, gone or another worker's."""
    rollout = _claim(rollout_id)
    if rollout is None:
        return None
    problem = _authority_error(rollout)
    if problem:
        return _finish(rollout, RolloutStatus.FAILED, problem)
    target = rollout.target
    adapter = adapter_for(target.kind)
    try:
        secret = None
        if target.credential_id:
            secret = credentials.secret_for(target.credential, team=target.team, url=adapter.endpoint(target.config))
        deployed = adapter.deploy(target, secret, _order(rollout))
    except (TargetError, credentials.CredentialError) as exc:
        if getattr(exc, "transient", False) and rollout.attempts < MAX_ATTEMPTS:
            delay = backoff(rollout.attempts)
            Rollout.objects.filter(pk=rollout.pk).update(
                status=RolloutStatus.QUEUED, claimed_until=None, retry_at=timezone.now() + timedelta(seconds=delay),
                detail=f"retrying: {exc}"[:2000],
            )  # fmt: skip
            raise TransientRolloutError(str(exc), delay) from exc
        return _finish(rollout, RolloutStatus.FAILED, str(exc))
    except Exception as exc:  # a bug must end as a recorded failure, not a rollout stuck in "running"
        logger.exception("rollout %s failed", rollout.pk)
        return _finish(rollout, RolloutStatus.FAILED, f"internal error while deploying ({type(exc).__name__})")
    return _finish(rollout, RolloutStatus.SUCCEEDED, deployed.detail, deployed.reference)


@transaction.atomic
def _finish(rollout: Rollout, status: str, detail: str, reference: str = "") -> Rollout:
    now = timezone.now()
    done = Rollout.objects.filter(pk=rollout.pk, status=RolloutStatus.RUNNING).update(
        status=status, detail=detail[:2000], reference=reference[:200], finished_at=now, claimed_until=None
    )
    if not done:  # another worker finished it meanwhile (this one outlived its lease): its record stands
        return rollout
    rollout.status, rollout.detail, rollout.reference, rollout.finished_at = status, detail, reference, now
    succeeded = status == RolloutStatus.SUCCEEDED
    record(
        action=Action.DEPLOYMENT_SUCCEEDED if succeeded else Action.DEPLOYMENT_FAILED,
        actor=DEPLOYER,
        target=rollout,
        changes={"target": [None, rollout.target.name], "version": [None, rollout.version.version],
                 "detail": [None, detail[:500]], "reference": [None, reference or None]},
    )  # fmt: skip
    from .tasks import notify_rollout_failed_task, observe_target_task

    if succeeded:  # the next observation confirms it
        transaction.on_commit(lambda: observe_target_task.delay(rollout.target_id, "rollout", "deployer"))
    else:
        transaction.on_commit(lambda: notify_rollout_failed_task.delay(rollout.pk))
    return rollout


def rollouts_requeue_stalled(now=None) -> int:
    """Queue again what no worker is doing: rollouts left queued (a lost message) or running past their lease."""
    now = now or timezone.now()
    lost_first = Q(retry_at__isnull=True, created_at__lt=now - lease())  # its first message never arrived
    lost_retry = Q(retry_at__lt=now - lease())  # its retry was due a lease ago and nobody took it
    stalled = Rollout.objects.filter(
        Q(lost_first | lost_retry, status=RolloutStatus.QUEUED) | Q(status=RolloutStatus.RUNNING, claimed_until__lt=now)
    ).values_list("pk", flat=True)
    ids = list(stalled)
    _queue(ids)
    return len(ids)
