"""Approval reads for pages and the API: scoped by permission, fixed query counts."""

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connections
from django.db.models import Aggregate, Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q
from django.db.models.functions import Lower, TruncWeek
from django.shortcuts import get_object_or_404

from apps.accounts import permissions
from apps.core import keyset
from apps.core.filters import filtered
from apps.core.querysets import in_list_sql

from .filters import DeploymentRequestFilter
from .models import (
    OPEN_STATES,
    ApprovalPolicy,
    ApproverKind,
    Decision,
    DeploymentRequest,
    RequestState,
    RequestStep,
    StepState,
)


def _approver_rule(user) -> tuple[dict[str, list[int]], list[int]]:
    """(role → the teams where `user` holds it, the teams `user` may approve for): what decides which open steps
    are theirs. Their roles are read once (per web request, with the page's other permission checks)."""
    roles = permissions.roles_by_team(user)
    teams_by_role: dict[str, list[int]] = defaultdict(list)
    for team_id, held in sorted(roles.items()):
        for role in held:
            teams_by_role[role].append(team_id)
    approving = sorted(team_id for team_id, held in roles.items() if permissions.role_allows(held, permissions.APPROVE))
    return dict(sorted(teams_by_role.items())), approving


def _eligible_step_q(user) -> Q:
    """Open steps `user` (an active user) may decide now, by the step's approver rule: a role they hold in the
    model's team, approving for the step's team, or being named. The roles are written into the condition, not
    asked again in subqueries per step."""
    teams_by_role, approving = _approver_rule(user)
    holds_role = Q(pk__in=[])
    for role, team_ids in teams_by_role.items():
        holds_role |= Q(role=role, request__team_id__in=team_ids)
    named = RequestStep.users.through.objects.filter(user_id=user.pk).values("requeststep_id")
    return (Q(approver_kind=ApproverKind.ROLE) & holds_role) | (
        Q(approver_kind=ApproverKind.TEAM, team_id__in=approving)) | (
        Q(approver_kind=ApproverKind.USERS, pk__in=named))  # fmt: skip


def _waiting_steps(user):
    """Open steps of pending requests that `user` (an active user) may decide and has not: one filter, so the
    navigation's count on every page builds the query once."""
    already = Decision.objects.filter(request_id=OuterRef("request_id"), approver=user, voided_at__isnull=True)
    return RequestStep.objects.filter(
        Q(state=StepState.OPEN, request__state=RequestState.PENDING)
        & _eligible_step_q(user)
        & ~Q(request__requester=user)
        & ~Exists(already)
    )


_STEP, _REQUEST = RequestStep._meta.db_table, DeploymentRequest._meta.db_table
_NAMED, _DECISION = RequestStep.users.through._meta.db_table, Decision._meta.db_table
# _waiting_steps(user).count() written out: the same conditions, in SQL the ORM need not build and compile on every
# page (its query was 2 ms of Python and 1.4 ms of planning, for a count that finds a handful of rows). tests/approvals/
# test_waiting_count.py holds the two to the same number for every kind of step, decision and requester.
# Only model metadata and placeholders are written into the text (noqa: S608); every value is a parameter.
_WAITING_COUNT = (
    f"SELECT COUNT(*) FROM {_STEP} s INNER JOIN {_REQUEST} r ON r.id = s.request_id "  # noqa: S608
    "WHERE s.state = %s AND r.state = %s AND r.requester_id <> %s AND ({eligible}) "
    f"AND NOT EXISTS (SELECT 1 FROM {_DECISION} d "
    "WHERE d.request_id = s.request_id AND d.approver_id = %s AND d.voided_at IS NULL)"
)


def waiting_count(*, user) -> int:
    """How many steps wait for `user`: waiting_for(user=user).count(), the navigation's badge on every page."""
    if not user.is_authenticated or not user.is_active:
        return 0
    teams_by_role, approving = _approver_rule(user)
    rules, params = [], []
    for role, team_ids in teams_by_role.items():
        teams, values = in_list_sql(team_ids)
        rules.append(f"(s.approver_kind = %s AND s.role = %s AND r.team_id {teams})")
        params += [ApproverKind.ROLE.value, role, *values]
    teams, values = in_list_sql(approving)
    rules.append(f"(s.approver_kind = %s AND s.team_id {teams})")
    params += [ApproverKind.TEAM.value, *values]
    named = f"SELECT 1 FROM {_NAMED} n WHERE n.requeststep_id = s.id AND n.user_id = %s"  # noqa: S608
    rules.append(f"(s.approver_kind = %s AND EXISTS ({named}))")
    params += [ApproverKind.USERS.value, user.pk]
    sql = _WAITING_COUNT.format(eligible=" OR ".join(rules))
    with connections[RequestStep.objects.db].cursor() as cursor:
        cursor.execute(sql, [StepState.OPEN.value, RequestState.PENDING.value, user.pk, *params, user.pk])
        return cursor.fetchone()[0]


def waiting_for(*, user):
    """Open steps of pending requests that `user` may decide and has not: oldest first."""
    if not user.is_authenticated or not user.is_active:
        return RequestStep.objects.none()
    return (
        _waiting_steps(user)
        .select_related("request__version__model", "request__environment", "request__requester")
        .only(*WAITING_FIELDS)
        .order_by("opened_at", "pk")
    )


# What a list of waiting steps (the inbox, the home page) shows: the step, and its request as a table row shows it.
WAITING_FIELDS = (
    "request_id", "round", "order", "name", "approver_kind", "role", "team_id", "quorum", "requires_signature",
    "due_hours", "state", "opened_at", "due_at", "completed_at",
    "request__version_id", "request__environment_id", "request__requester_id", "request__state",
    "request__created_at", "request__version__model_id", "request__version__version",
    "request__version__model__name", "request__version__model__risk_tier", "request__environment__name",
    "request__requester__username", "request__requester__first_name", "request__requester__last_name",
)  # fmt: skip


# What a table of requests (the request list, the inbox, a version's panel) shows: the request's number, state and
# times, its model and version, environment and requester; nothing else is read (no frozen policy, subject or
# checks decoded per row, no long texts of the version and model, no team), so each row builds small objects.
SUMMARY_FIELDS = (
    "version_id", "environment_id", "requester_id", "state", "created_at", "closed_at",
    "version__model_id", "version__version", "version__model__name", "environment__name",
    "requester__username", "requester__first_name", "requester__last_name",
)  # fmt: skip


def _summary(qs):
    """`qs` reading only what a table of requests shows (SUMMARY_FIELDS)."""
    return qs.select_related(None).select_related("version__model", "environment", "requester").only(*SUMMARY_FIELDS)


def deployment_request_list(
    *, user, state: str = "", requester=None, environment: str = "", model: str = "", version_id: int | None = None,
    summary: bool = False,
):  # fmt: skip
    """The requests `user` may see, newest first; `summary`: only what a table of them shows (SUMMARY_FIELDS)."""
    qs = DeploymentRequest.objects.restrict(user).select_related("version__model__team", "environment", "requester")
    if summary:
        qs = _summary(qs)
    if state:
        qs = qs.filter(state=state)
    if requester is not None:
        qs = qs.filter(requester=requester)
    if environment:
        qs = qs.filter(environment__slug=environment)
    if model:
        qs = qs.filter(version__model__slug=model)  # shares the rows' join to the model (see filters.py)
    if version_id is not None:
        qs = qs.filter(version_id=version_id)
    return qs.order_by("-created_at", "-pk")  # no DISTINCT: restrict() never repeats a row (see below)


def deployment_request_filter(*, user, data=None) -> DeploymentRequestFilter:
    """The request list's filters bound to `data`, over the requests `user` may see, newest first; `.qs` is the
    list. The page and the API both use it. No DISTINCT: restrict() and the filters never repeat a row, and a
    DISTINCT would make PostgreSQL sort every request before it can return the newest 50."""
    base = DeploymentRequest.objects.restrict(user).select_related("version__model__team", "environment", "requester")
    return DeploymentRequestFilter(data or {}, queryset=base.order_by("-created_at", "-pk"), user=user)


def deployment_request_page(*, user, data=None, cursor: str | None = None, per_page: int = 50) -> keyset.Page:
    """One keyset page of the requests `user` may see, filtered by `data`, newest first (an index on
    (created_at, id) serves every page alike). Raises ValidationError naming a bad filter value."""
    rows = filtered(DeploymentRequestFilter, DeploymentRequest.objects.restrict(user), data, user=user)
    return keyset.paginate(_summary(rows), keys=("created_at", "pk"), descending=True, cursor=cursor, per_page=per_page)


def deployment_request_get(*, user, pk: int) -> DeploymentRequest:
    steps = (
        RequestStep.objects.select_related("team")
        .prefetch_related(
            "users", Prefetch("decisions", queryset=Decision.objects.select_related("approver").order_by("decided_at"))
        )
        .order_by("round", "order")
    )
    qs = (
        DeploymentRequest.objects.restrict(user)
        .select_related("version__model__team", "environment", "requester", "policy")
        .prefetch_related(Prefetch("steps", queryset=steps))
    )
    return get_object_or_404(qs, pk=pk)


def currently_approved(*, version, environment) -> DeploymentRequest | None:
    """The latest approved request for another version of the same model in the environment (for the diff)."""
    return (
        DeploymentRequest.objects.filter(
            model_id=version.model_id, environment=environment, state=RequestState.APPROVED
        )
        .exclude(version=version)
        .select_related("version")
        .order_by("-closed_at")
        .first()
    )


def policy_list():
    """Policies in promotion order of their environment (those for every environment last), then by name."""
    return (
        ApprovalPolicy.objects.select_related("environment")
        .prefetch_related("steps__team", "steps__users")
        .order_by(F("environment__order").asc(nulls_last=True), Lower("name"))
    )


# --- the home page: what the user asked for, and how requests have fared ------------------------------------------

CLOSED_STATES = (RequestState.APPROVED, RequestState.REJECTED, RequestState.CANCELLED, RequestState.EXPIRED)


def own_open_requests(*, user):
    """`user`'s own draft and pending requests, newest first; each with `open_steps`: the step it waits on, if any."""
    open_steps = RequestStep.objects.filter(state=StepState.OPEN).order_by("round", "order")
    return (
        DeploymentRequest.objects.restrict(user)
        .filter(requester=user, state__in=OPEN_STATES)
        .select_related("version__model", "environment")
        .prefetch_related(Prefetch("steps", queryset=open_steps, to_attr="open_steps"))
        .order_by("-created_at", "-pk")
    )


def requests_closed_per_week(*, user, since: datetime) -> dict[tuple[date, str], int]:
    """{(Monday of the week, outcome): how many} of the requests `user` may see that closed since `since`."""
    rows = (
        DeploymentRequest.objects.restrict(user)
        .filter(state__in=CLOSED_STATES, closed_at__gte=since)
        .annotate(week=TruncWeek("closed_at", tzinfo=UTC))
        .values("week", "state")
        .annotate(count=Count("pk", distinct=True))
        .order_by()
    )
    return {(row["week"].date(), row["state"]): row["count"] for row in rows}


class Median(Aggregate):
    """The median of numbers or intervals, computed by PostgreSQL (an ordered-set aggregate SQLite lacks)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


@dataclass(frozen=True)
class ApprovalTime:
    environment: str
    median: timedelta
    count: int


def approval_time_by_environment(*, user, since: datetime) -> list[ApprovalTime]:
    """Per environment (in promotion order), the median time from submission to approval of the requests `user`
    may see that were approved since `since`."""
    approved = DeploymentRequest.objects.restrict(user).filter(
        state=RequestState.APPROVED, closed_at__gte=since, submitted_at__isnull=False
    )
    if connections[approved.db].vendor == "postgresql":
        waited = ExpressionWrapper(F("closed_at") - F("submitted_at"), output_field=DurationField())
        rows = (
            approved.values("environment__order", "environment__name")
            .annotate(median=Median(waited, output_field=DurationField()), count=Count("pk", distinct=True))
            .order_by("environment__order")
        )
        return [ApprovalTime(row["environment__name"], row["median"], row["count"]) for row in rows]
    # Elsewhere (SQLite) the median is taken here, over one row per approval in the window: a bounded set.
    waits = defaultdict(list)
    rows = approved.values_list("environment__order", "environment__name", "submitted_at", "closed_at")
    for order, name, submitted_at, closed_at in rows.order_by():
        waits[(order, name)].append(closed_at - submitted_at)
    return [ApprovalTime(name, statistics.median(values), len(values)) for (_, name), values in sorted(waits.items())]
