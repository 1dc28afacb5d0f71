"""Deployment reads for the home page: the open compliance exceptions, targets that could not be read, what started
running lately, and how many exceptions were open week by week. Permission-scoped, a fixed number of queries each,
however many models, targets or events there are.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import BooleanField, Case, Count, ExpressionWrapper, OuterRef, Q, Subquery, When
from django.db.models.functions import TruncWeek

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.inventory.models import Environment, RegisteredModel

from .models import EXCEPTIONS, BreakGlass, DeploymentTarget, DriftState, DriftStatus, Running, TargetStatus


@dataclass(frozen=True)
class OpenException:
    """One open compliance exception, whatever its source: a drift status (`kind` is its DriftStatus value), or a
    break-glass deployment still without post-hoc approval (`kind` "break_glass")."""

    kind: str
    label: str
    model: RegisteredModel
    environment: Environment
    reason: str
    since: datetime
    running: str = ""  # the version seen running, where one is


@dataclass(frozen=True)
class OpenExceptions:
    total: int
    items: list[OpenException]  # the newest `limit`


def open_exceptions(*, user, limit: int = 10) -> OpenExceptions:
    """The compliance exceptions open now on the models `user` may view, newest first (four queries): drift
    statuses, and emergency (break-glass) deployments still without a post-hoc approval."""
    visible = RegisteredModel.objects.restrict(user)
    states = DriftState.objects.filter(model__in=visible, status__in=EXCEPTIONS)
    glass = BreakGlass.objects.open().filter(version__model__in=visible)
    newest = states.select_related("model__team", "environment").order_by("-since", "-pk")[:limit]
    items = [
        OpenException(kind=state.status, label=state.get_status_display(), model=state.model,
                      environment=state.environment, reason=state.reason, since=state.since,
                      running=state.running_label)
        for state in newest
    ]  # fmt: skip
    for record in glass.select_related("version__model__team", "environment").order_by("-recorded_at")[:limit]:
        outcome = (f"post-hoc request #{record.post_hoc_request_id} was {record.post_hoc_outcome}"
                   if record.post_hoc_request_id else "no post-hoc request yet")  # fmt: skip
        items.append(OpenException(
            kind="break_glass", label="Break-glass", model=record.version.model, environment=record.environment,
            reason=f"Emergency deployment without approval ({outcome}): {record.reason}"[:500],
            since=record.recorded_at, running=record.version.version,
        ))  # fmt: skip
    items.sort(key=lambda item: item.since, reverse=True)
    return OpenExceptions(total=states.count() + glass.count(), items=items[:limit])


def unreachable_targets(*, user):
    """Enabled targets `user` may see whose last observation failed (status unknown), with `last_error`."""
    return (
        DeploymentTarget.objects.restrict(user)
        .filter(enabled=True, last_status=TargetStatus.UNKNOWN)
        .select_related("environment", "team")
        .order_by("-last_observed_at", "name")
    )


def recent_deployments(*, user, limit: int = 8) -> list[Running]:
    """The newest observation intervals `user` may see (of models they may view, or on targets their teams
    operate): what started running where, and when. Each row carries `model_visible` and, for those, the model's
    drift status in that environment now (`drift_status`, None when there is none; `drift_label`,
    `is_exception`). One query."""
    models = RegisteredModel.objects.restrict(user).values("pk")
    targets = DeploymentTarget.objects.restrict(user).values("pk")
    status = DriftState.objects.filter(model=OuterRef("model"), environment=OuterRef("environment")).values("status")
    rows = list(
        Running.objects.filter(Q(model_id__in=models) | Q(target_id__in=targets))
        .select_related("target", "environment", "model", "version")
        .annotate(
            model_visible=ExpressionWrapper(Q(model_id__in=models), output_field=BooleanField()),
            drift_status=Case(When(model_id__in=models, then=Subquery(status[:1]))),
        )
        .order_by("-started_at", "-pk")[:limit]
    )
    for row in rows:
        row.drift_label = DriftStatus(row.drift_status).label if row.drift_status in DriftStatus.values else ""
        row.is_exception = row.drift_status in EXCEPTIONS
    return rows


def exceptions_open_per_week(*, user, weeks: list[datetime]) -> list[int]:
    """How many compliance exceptions of the models `user` may view were open at the end of each week (`weeks`:
    the weeks' starts, oldest first; the last one ends now).

    Replayed from the audit trail, the record of every change of drift status: `deployment.drift_detected` opens an
    exception unless the status it replaces was one already (one exception turning into another), and
    `deployment.drift_resolved` closes one when the status it replaces was one. Two aggregate queries: what was
    open when the first week began, then the changes week by week.
    """
    was_exception = Q(changes__status__0__in=sorted(EXCEPTIONS))
    detected, resolved = Q(action=Action.DEPLOYMENT_DRIFT_DETECTED), Q(action=Action.DEPLOYMENT_DRIFT_RESOLVED)
    changes = {
        "detected": Count("pk", filter=detected),
        "changed": Count("pk", filter=detected & was_exception),
        "resolved": Count("pk", filter=resolved & was_exception),
    }
    events = AuditEvent.objects.filter(
        detected | resolved, model_id__in=RegisteredModel.objects.restrict(user).values("pk")
    )
    start = weeks[0]
    open_now = _net(events.filter(timestamp__lt=start).aggregate(**changes))
    rows = events.filter(timestamp__gte=start).annotate(week=TruncWeek("timestamp", tzinfo=UTC)).values("week")
    by_week = {row["week"].date(): _net(row) for row in rows.annotate(**changes).order_by()}
    counts = []
    for week in weeks:
        open_now += by_week.get(week.date(), 0)
        counts.append(open_now)
    return counts


def _net(row: dict) -> int:
    return (row["detected"] or 0) - (row["changed"] or 0) - (row["resolved"] or 0)
