"""Observing a target: read it through its adapter, keep what runs as intervals, and re-judge drift.

A worker claims the target (one observation at a time, apps.core.locks), reads it with no transaction open, then
applies the result in one short transaction: intervals closed and opened, the target's status, and the drift
status of every (model, environment) it touched, each change of status one audit event. Re-observing the same
state writes nothing but the time it was last seen. The queries are a fixed number per observation, whatever the
number of models on the target.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts import credentials
from apps.approvals.models import DeploymentRequest, RequestState
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import Target, record
from apps.core.locks import exclusive
from apps.inventory.models import Lifecycle, ModelVersion, RegisteredModel

from . import policies
from .adapters import Observed, TargetError, adapter_for
from .models import EXCEPTIONS, DeploymentTarget, DriftState, DriftStatus, Running, TargetStatus

logger = logging.getLogger(__name__)
OBSERVER = Actor.system("deployment-observer")
ADVISORY_NAMESPACE = 0x64_70_6C_79  # "dply"
LEASE_SECONDS = 600


class TransientTargetError(Exception):
    """The target could not be read for a reason worth retrying (network, server busy)."""


def observe_target(target_id: int, *, trigger: str = "schedule", requested_by: str = "") -> DeploymentTarget | None:
    """Observe one target now; None when it is gone, disabled, or another worker is observing it."""
    target = DeploymentTarget.objects.select_related("environment", "team", "credential").filter(pk=target_id).first()
    if target is None or not target.enabled:
        return None
    with exclusive(DeploymentTarget, target.pk, namespace=ADVISORY_NAMESPACE, lease_seconds=LEASE_SECONDS) as held:
        if not held:
            return None
        DeploymentTarget.objects.filter(pk=target.pk).update(observe_queued_at=None)
        known = frozenset(Running.objects.filter(target=target, until__isnull=True).values_list(
            "model_key", "version_label", "digest", "location"))  # fmt: skip
        try:
            secret = None
            if target.credential_id:
                secret = credentials.secret_for(target.credential, team=target.team,
                                                url=adapter_for(target.kind).endpoint(target.config))  # fmt: skip
            observed = adapter_for(target.kind).observe(target, secret, known)
        except (TargetError, credentials.CredentialError) as exc:
            target_unreachable(target, str(exc))
            if getattr(exc, "transient", False):
                raise TransientTargetError(str(exc)) from exc
            return _reloaded(target)
        except Exception as exc:  # an adapter bug must not leave the target looking fine
            logger.exception("observing target %s failed", target.pk)
            target_unreachable(target, f"internal error while reading the target ({type(exc).__name__})")
            return _reloaded(target)
        observation_apply(target, observed)
    return _reloaded(target)


def _reloaded(target: DeploymentTarget) -> DeploymentTarget:
    target.refresh_from_db(fields=["last_status", "last_error", "last_observed_at", "observe_queued_at"])
    return target


@transaction.atomic
def target_unreachable(target: DeploymentTarget, error: str) -> None:
    """The target could not be read: its status is unknown, its intervals stay as last seen, drift is re-judged."""
    now = timezone.now()
    was = DeploymentTarget.objects.select_for_update().get(pk=target.pk)
    DeploymentTarget.objects.filter(pk=target.pk).update(
        last_status=TargetStatus.UNKNOWN, last_error=error[:2000], last_observed_at=now
    )
    if was.last_status != TargetStatus.UNKNOWN:
        drift_refresh(environment_ids={target.environment_id}, now=now)


@transaction.atomic
def observation_apply(target: DeploymentTarget, observed: list[Observed]) -> dict:
    """Bring the target's intervals in line with `observed`; returns counts (opened, closed, kept)."""
    now = timezone.now()
    target = DeploymentTarget.objects.select_for_update().get(pk=target.pk)
    open_rows = {row.identity: row for row in Running.objects.filter(target=target, until__isnull=True)}
    seen = {item.identity: item for item in observed}
    gone = [row for identity, row in open_rows.items() if identity not in seen]
    new = [item for identity, item in seen.items() if identity not in open_rows]
    models, versions = _resolve(new)
    Running.objects.bulk_create([
        Running(
            target=target, environment_id=target.environment_id, model=models.get(item.model.lower()),
            version=_version_of(item, models, versions), model_key=item.model, version_label=item.version,
            digest=item.digest, location=item.location, since=item.since, commit_sha=item.commit_sha,
            commit_author=item.commit_author, started_at=now, last_seen_at=now,
        )
        for item in new
    ])  # fmt: skip
    if gone:
        Running.objects.filter(pk__in=[row.pk for row in gone]).update(until=now)
    kept = len(open_rows) - len(gone)
    if kept:
        Running.objects.filter(target=target, until__isnull=True, started_at__lt=now).update(last_seen_at=now)
    previous = target.last_status
    DeploymentTarget.objects.filter(pk=target.pk).update(
        last_status=TargetStatus.OK, last_error="", last_observed_at=now
    )
    touched = {row.model_id for row in gone if row.model_id} | {
        m.pk for item in new if (m := models.get(item.model.lower()))
    }
    if _judges_whole_environment(target, previous):
        drift_refresh(environment_ids={target.environment_id}, now=now)
    elif touched:
        drift_refresh(environment_ids={target.environment_id}, model_ids=touched, now=now)
    return {"opened": len(new), "closed": len(gone), "kept": kept}


def _judges_whole_environment(target: DeploymentTarget, previous: str) -> bool:
    """After this observation, may models it did not touch change status too? Yes when the target is back from
    unknown (their status may have been "unknown" because of it), or when it is the environment's first target to
    be read (approved models there had no status yet). A new target among others that answer changes only what it
    reports, so a fleet of targets coming online does not re-judge the whole environment once per target."""
    if previous == TargetStatus.UNKNOWN:
        return True
    if previous != TargetStatus.NEVER:
        return False
    others = DeploymentTarget.objects.filter(environment_id=target.environment_id, enabled=True).exclude(pk=target.pk)
    return not others.exclude(last_status=TargetStatus.NEVER).exists()


def _resolve(items: list[Observed]) -> tuple[dict, dict]:
    """Registered models by lower-cased slug or name, and their versions, for the observed identities."""
    if not items:
        return {}, {}
    keys = {item.model.lower() for item in items}
    models = {}
    slugs = keys | {slugify(key) for key in keys}
    for model in RegisteredModel.objects.filter(slug__in=slugs).only("pk", "slug", "name", "team_id"):
        models[model.slug.lower()] = model
        models.setdefault(model.name.lower(), model)
    for key in keys:  # "Churn Predictor" in a manifest names the model whose slug is churn-predictor
        if key not in models and slugify(key) in models:
            models[key] = models[slugify(key)]
    ids = {model.pk for model in models.values()}
    versions = defaultdict(dict)
    for version in ModelVersion.objects.filter(model_id__in=ids).only("pk", "model_id", "version", "artifact_uri"):
        versions[version.model_id][("v", version.version)] = version
        if version.artifact_uri:
            versions[version.model_id][("uri", version.artifact_uri)] = version
    return models, versions


def _version_of(item: Observed, models: dict, versions: dict):
    model = models.get(item.model.lower())
    if model is None:
        return None
    by_model = versions.get(model.pk, {})
    return by_model.get(("v", item.version)) or (
        by_model.get(("uri", item.artifact_uri)) if item.artifact_uri else None
    )


def drift_refresh(*, environment_ids, model_ids=None, now=None) -> int:
    """Re-judge drift for the models (all relevant ones when None) in environments that have targets.

    Must run inside the caller's transaction; each status change is one audit event and one e-mail after commit.
    Returns how many statuses changed.
    """
    now = now or timezone.now()
    targets = list(DeploymentTarget.objects.filter(environment_id__in=environment_ids, enabled=True).only(
        "pk", "name", "environment_id", "last_status", "last_observed_at"))  # fmt: skip
    by_env = defaultdict(list)
    for target in targets:
        by_env[target.environment_id].append(target)
    env_ids = set(by_env)
    if not env_ids:
        return 0
    approved_qs = DeploymentRequest.objects.filter(environment_id__in=env_ids, state=RequestState.APPROVED)
    running_qs = Running.objects.filter(environment_id__in=env_ids, until__isnull=True)
    states_qs = DriftState.objects.filter(environment_id__in=env_ids)
    if model_ids is not None:
        approved_qs = approved_qs.filter(model_id__in=model_ids)
        running_qs = running_qs.filter(model_id__in=model_ids)
        states_qs = states_qs.filter(model_id__in=model_ids)
    approved = list(approved_qs.select_related("version").order_by("closed_at", "pk"))
    running = list(running_qs.select_related("version", "target").order_by("pk"))
    states = {(s.model_id, s.environment_id): s for s in states_qs.select_related("model")}
    latest, ever = {}, defaultdict(set)
    for request in approved:
        key = (request.version.model_id, request.environment_id)
        latest[key] = request  # ordered by closing time: the last one wins
        ever[key].add(request.version_id)
    seen = defaultdict(list)
    for row in running:
        if row.model_id:
            seen[(row.model_id, row.environment_id)].append(row)
    pairs = set(latest) | set(seen) | set(states)
    models = RegisteredModel.objects.in_bulk({m for m, _ in pairs}) if pairs else {}
    reports = _reports([request.pk for request in latest.values()])
    grace = {env.pk: timedelta(minutes=env.rollout_grace_minutes) for env in _environments(env_ids)}
    changed = 0
    for model_id, env_id in sorted(pairs):
        model = models.get(model_id)
        if model is None:
            continue
        env_targets = by_env[env_id]
        unknown = {t.pk for t in env_targets if t.last_status == TargetStatus.UNKNOWN}
        rows = [row for row in seen[(model_id, env_id)] if row.target_id not in unknown]
        request = latest.get((model_id, env_id))
        observed_times = [t.last_observed_at for t in env_targets if t.last_observed_at]
        verdict = policies.drift(
            running=[policies.Seen(row.version_id, row.version_label, row.digest, row.target.name) for row in rows],
            approved=_approved(request, reports),
            ever_approved=frozenset(ever[(model_id, env_id)]),
            retired=model.lifecycle_status == Lifecycle.RETIRED,
            unknown_targets=[t.name for t in env_targets if t.pk in unknown],
            now=now,
            grace=grace[env_id],
            observed_at=min(observed_times) if len(observed_times) == len(env_targets) else None,
        )
        changed += _store(model, env_id, states.get((model_id, env_id)), verdict, request, rows, now)
    return changed


def _environments(env_ids):
    from apps.inventory.models import Environment

    return Environment.objects.filter(pk__in=env_ids).only("pk", "rollout_grace_minutes")


def _reports(request_ids: list[int]) -> dict[int, object]:
    """When CI last reported each approved request deployed (`deployment.reported` with status succeeded)."""
    if not request_ids:
        return {}
    events = AuditEvent.objects.filter(action=Action.DEPLOYMENT_REPORTED, request_id__in=request_ids).only(
        "request_id", "timestamp", "changes").order_by("sequence")  # fmt: skip
    return {e.request_id: e.timestamp for e in events if (e.changes.get("status") or [None, None])[1] == "succeeded"}


def _approved(request, reports) -> policies.Approved | None:
    if request is None:
        return None
    return policies.Approved(
        request_id=request.pk,
        version_id=request.version_id,
        version=request.version.version,
        digest=(request.subject or {}).get("artifact_digest") or request.version.artifact_digest or "",
        approved_at=request.closed_at or request.updated_at,
        reported_at=reports.get(request.pk),
    )


def _store(model, env_id, state, verdict, request, rows, now) -> int:
    """Write the (model, environment) status and its details; a change of status is one audit event (returns 1).

    The same status with new details (another target, a newer approved request, a new reason) is kept current
    without an event: the event records changes of status, and the intervals record every observation.
    """
    before = state.status if state else None
    after = verdict.status if verdict else None
    if verdict is None and state is None:
        return 0
    if verdict is None:
        event_target = Target("deployments.driftstate", state.pk, str(state), state.audit_scope())
        state.delete()
        action = Action.DEPLOYMENT_DRIFT_RESOLVED
    else:
        running = verdict.running
        details = {
            "reason": verdict.reason[:500],
            "running_version_id": running.version_id if running else None,
            "running_label": running.version if running else "",
            "approved_request_id": request.pk if request else None,
            "evidence": {
                **verdict.evidence,
                "targets": sorted({row.target.name for row in rows}),
                "observed": [_evidence(row) for row in rows],
                "approved_request": request.pk if request else None,
            },
        }
        if state is not None and before == after:
            if all(getattr(state, key) == value for key, value in details.items()):
                return 0
            for key, value in details.items():
                setattr(state, key, value)
            state.save(update_fields=[*details, "updated_at"])
            return 0
        state = state or DriftState(model=model, environment_id=env_id)
        state.model, state.status, state.since = model, verdict.status, now
        for key, value in details.items():
            setattr(state, key, value)
        state.save()
        event_target = state
        if after in EXCEPTIONS:
            action = Action.DEPLOYMENT_DRIFT_DETECTED
        elif before in EXCEPTIONS:
            action = Action.DEPLOYMENT_DRIFT_RESOLVED
        else:
            action = Action.DEPLOYMENT_OBSERVED
    record(
        action=action,
        actor=OBSERVER,
        target=event_target,
        changes={
            "status": [before, after],
            "reason": [None, verdict.reason if verdict else "Nothing approved runs or is expected here any more."],
            "request": [None, request.pk if request else None],
            "observed": [None, [f"{row.version_label or '?'} on {row.target.name}" for row in rows] or None],
        },
    )
    if after in EXCEPTIONS or before in EXCEPTIONS:
        _notify_after_commit(model.pk, env_id, before, after)
    return 1


def _evidence(row: Running) -> dict:
    return {
        "target": row.target.name,
        "version": row.version_label,
        "digest": row.digest,
        "location": row.location,
        "commit": row.commit_sha,
        "since": row.started_at.isoformat(),
    }


def _notify_after_commit(model_id, env_id, before, after) -> None:
    from .tasks import notify_drift_task

    transaction.on_commit(lambda: notify_drift_task.delay(model_id, env_id, before, after))


def refresh_due(now=None) -> int:
    """Pending rollouts whose grace ran out become overdue (the scheduler calls this every few minutes)."""
    now = now or timezone.now()
    pending = DriftState.objects.filter(status=DriftStatus.ROLLOUT_PENDING)
    pairs = list(pending.values_list("model_id", "environment_id"))
    if not pairs:
        return 0
    with transaction.atomic():
        return drift_refresh(environment_ids={e for _, e in pairs}, model_ids={m for m, _ in pairs}, now=now)
