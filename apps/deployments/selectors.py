"""Deployment reads for pages, the API and the dossier: permission-scoped, a fixed number of queries per page.

What runs comes from the observation intervals (`Running`), what should run from the approved requests, and the
verdict from `DriftState`. A model's deployments are shown to whoever may view the model (its team, or a person
it was shared with); a target to portal admins and the members of its operating team.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404

from apps.approvals.models import Decision, DeploymentRequest, Outcome, RequestState
from apps.audit.models import AuditEvent
from apps.core import keyset
from apps.core.filters import filtered
from apps.gitsync import git
from apps.inventory.models import Environment, RegisteredModel

from .filters import DeploymentTargetFilter
from .models import EXCEPTIONS, BreakGlass, DeploymentTarget, DriftState, Rollout, Running

ANY_EXCEPTION = "exceptions"  # the status filter's value for "any compliance exception"


# --- the matrix: models by environments --------------------------------------------------------------------------


@dataclass
class Cell:
    """One model in one environment: what runs (open intervals), what was last approved, and the status."""

    environment: Environment
    observed: bool  # an enabled target watches the environment
    running: list[Running] = field(default_factory=list)
    approved: DeploymentRequest | None = None
    state: DriftState | None = None

    @property
    def status(self) -> str | None:
        return self.state.status if self.state else None

    @property
    def is_exception(self) -> bool:
        return self.state is not None and self.state.is_exception

    @property
    def empty(self) -> bool:
        return not (self.running or self.approved or self.state)

    @property
    def running_versions(self) -> list[str]:
        return list(dict.fromkeys(row.version_label or "?" for row in self.running))

    @property
    def since(self) -> datetime | None:
        return min((row.started_at for row in self.running), default=None)


@dataclass
class MatrixRow:
    model: RegisteredModel
    cells: list[Cell]

    @property
    def has_exception(self) -> bool:
        return any(cell.is_exception for cell in self.cells)


def environment_list():
    """Every environment in promotion order, each with `observed`: whether an enabled target watches it."""
    watched = DeploymentTarget.objects.filter(environment=OuterRef("pk"), enabled=True)
    return Environment.objects.annotate(observed=Exists(watched)).order_by("order")


# PostgreSQL: for each (model, environment) cell, the first entry of the request_latest_approved index.
_LATEST_APPROVED_SQL = f"""
    SELECT latest.id FROM unnest(%s::bigint[]) AS m(id) CROSS JOIN unnest(%s::bigint[]) AS e(id)
    CROSS JOIN LATERAL (
        SELECT r.id FROM {DeploymentRequest._meta.db_table} r
        WHERE r.state = %s AND r.model_id = m.id AND r.environment_id = e.id
        ORDER BY r.closed_at DESC NULLS LAST, r.id DESC LIMIT 1
    ) AS latest"""  # noqa: S608 - the table name is the model's, not user input


def _latest_approved(model_ids, env_ids):
    """The latest approved request per (model, environment): the version that should run there."""
    if connection.vendor == "postgresql":
        # One index probe a cell, however many approvals a model has had. A subquery per request (as below) re-read
        # the model's requests for each of them: 211 ms for a page at 100 requests a model.
        latest = RawSQL(_LATEST_APPROVED_SQL, [list(model_ids), list(env_ids), RequestState.APPROVED])  # noqa: S611
        return DeploymentRequest.objects.filter(pk__in=latest).select_related("version").order_by()
    newest = (
        DeploymentRequest.objects.filter(
            state=RequestState.APPROVED, model_id=OuterRef("model_id"), environment_id=OuterRef("environment_id")
        )
        .order_by(F("closed_at").desc(nulls_last=True), "-pk")
        .values("pk")[:1]
    )
    return DeploymentRequest.objects.filter(
        model_id__in=model_ids, environment_id__in=env_ids, pk=Subquery(newest)
    ).select_related("version")


def _cells(model_ids: list[int], environments: list[Environment]) -> dict[tuple[int, int], Cell]:
    """Every (model, environment) cell, filled in three queries whatever the number of models."""
    cells = {(m, env.pk): Cell(environment=env, observed=env.observed) for m in model_ids for env in environments}
    env_ids = [env.pk for env in environments]
    if not cells:
        return cells
    states = DriftState.objects.filter(model_id__in=model_ids, environment_id__in=env_ids)
    for state in states.select_related("running_version"):
        cells[(state.model_id, state.environment_id)].state = state
    running = Running.objects.current().filter(model_id__in=model_ids, environment_id__in=env_ids)
    for row in running.select_related("target", "version").order_by("started_at", "pk"):
        cells[(row.model_id, row.environment_id)].running.append(row)
    for request in _latest_approved(model_ids, env_ids):
        cells[(request.model_id, request.environment_id)].approved = request
    return cells


# A page of the matrix reads every present model it lists through a fixed plan: when at most this many rows
# (approved requests, open intervals, statuses) make models present, their ids are read first and the page is a
# sort of those few; past it, present models are dense enough that walking the name index with an EXISTS test
# finds a page within a few rows. Either way the rows read stay bounded (a walk over 100k models to find 25 sparse
# ones was the cost the probe avoids).
SPARSE_ROWS = 2_000
EXCEPTIONS_SHOWN = 10  # past these the section links to ?status=exceptions


@dataclass
class DriftMatrix:
    """One page of the matrix: present models by name (a keyset page of MatrixRow), and above them the models
    with a compliance exception (at most EXCEPTIONS_SHOWN; `more_exceptions` when there are others)."""

    page: keyset.Page
    environments: list[Environment]
    exceptions: list[MatrixRow] = field(default_factory=list)
    more_exceptions: bool = False


def _presence_sources(scope: dict, status: str | None, team: str | None = None):
    """The rows that put a model on the matrix (its status rows alone, when filtering by one); `team` narrows them
    for the sparse probe (the EXISTS tests need not: the models are filtered by team already)."""
    by_model_team = {"model__team__slug": team} if team else {}
    states = DriftState.objects.filter(**scope, **by_model_team)
    if status:
        return [states.filter(status__in=EXCEPTIONS if status == ANY_EXCEPTION else [status])]
    approved = DeploymentRequest.objects.filter(state=RequestState.APPROVED, **scope)
    return [
        states,
        Running.objects.current().filter(**scope, **by_model_team),
        approved.filter(team__slug=team) if team else approved,  # the request's own team column: no join
    ]


def _sparse_ids(sources) -> set[int] | None:
    """The present models' ids when at most SPARSE_ROWS rows make them present, else None (dense)."""
    # Each branch stops at the limit (UNION ALL; a DISTINCT would read them all). Approved requests are read in
    # the order of their (state, closed_at) index: by the state index alone PostgreSQL built a bitmap of all 250k.
    limited = [
        source.order_by(*(["closed_at"] if source.model is DeploymentRequest else [])).values_list(
            "model_id", flat=True
        )[: SPARSE_ROWS + 1]
        for source in sources
    ]
    if connection.features.supports_slicing_ordering_in_compound:
        first, *others = limited
        rows = list(first.union(*others, all=True)[: SPARSE_ROWS + 1])
    else:  # SQLite refuses a LIMIT inside a UNION: one query a source
        rows = [model_id for source in limited for model_id in source][: SPARSE_ROWS + 1]
    return None if len(rows) > SPARSE_ROWS else set(rows)


def _present_models(*, user, scope: dict, team: str | None, status: str | None):
    models = RegisteredModel.objects.restrict(user).select_related("team")
    if team:
        models = models.filter(team__slug=team)
    ids = _sparse_ids(_presence_sources(scope, status, team))
    if ids is not None:
        return models.filter(pk__in=ids)
    # One EXISTS over a UNION ALL, probed per model by the model indexes: three OR-ed EXISTS let PostgreSQL hash
    # every approved request (250k rows) before returning the first model.
    first, *others = [
        source.filter(model=OuterRef("pk")).order_by().values("pk") for source in _presence_sources(scope, status)
    ]
    return models.filter(Exists(first.union(*others, all=True) if others else first))


def _exception_models(*, user, scope: dict, team: str | None):
    """Models with a compliance exception, by name: driven from the (typically few) exception statuses."""
    states = DriftState.objects.filter(status__in=EXCEPTIONS, **scope)
    models = RegisteredModel.objects.restrict(user).filter(pk__in=states.values("model_id")).select_related("team")
    if team:
        models = models.filter(team__slug=team)
    return list(models.order_by("name")[: EXCEPTIONS_SHOWN + 1])


def drift_matrix(
    *, user, team: str | None = None, environment: str | None = None, status: str | None = None,
    cursor: str | None = None, per_page: int = 25,
) -> DriftMatrix:  # fmt: skip
    """One page of the models `user` may view that run, or are approved to run, somewhere, by name; by team,
    environment (slugs) and status (a DriftStatus value, or ANY_EXCEPTION). Unless a status is asked for, the
    models with a compliance exception come above the page, on every page. The same queries on any page."""
    environments = list(environment_list().filter(slug=environment) if environment else environment_list())
    # By id, not by a join on the slug: PostgreSQL then knows how many rows the environment has, and reads a rare
    # one's few requests by its index rather than walking every approved request for them.
    scope = {"environment_id__in": [env.pk for env in environments]} if environment else {}
    models = _present_models(user=user, scope=scope, team=team, status=status)
    page = keyset.paginate(models, keys=("name",), cursor=cursor, per_page=per_page)
    exceptions = [] if status else _exception_models(user=user, scope=scope, team=team)
    more_exceptions = len(exceptions) > EXCEPTIONS_SHOWN
    exceptions = exceptions[:EXCEPTIONS_SHOWN]
    cells = _cells(list({model.pk for model in [*page.rows, *exceptions]}), environments)

    def row(model):
        return MatrixRow(model, [cells[(model.pk, env.pk)] for env in environments])

    page.rows = [row(model) for model in page.rows]
    return DriftMatrix(page, environments, [row(model) for model in exceptions], more_exceptions)


def model_deployments(*, model: RegisteredModel, environments: list[Environment] | None = None) -> list[Cell]:
    """Where a model (the caller may already view) runs or is approved to run: one cell per such environment.
    `environments`: environment_list(), when the caller has read it already."""
    environments = list(environment_list()) if environments is None else environments
    cells = _cells([model.pk], environments)
    return [cells[(model.pk, env.pk)] for env in environments if not cells[(model.pk, env.pk)].empty]


def running_now(*, model=None, version=None):
    """What runs now for a model or one of its versions (the caller may already view it), by environment."""
    if (model is None) == (version is None):
        raise TypeError("running_now() takes a model or a version")
    rows = Running.objects.current().select_related("target", "environment", "version")
    rows = rows.filter(version=version) if version is not None else rows.filter(model=model)
    return rows.order_by("environment__order", "started_at", "pk")


def version_deployments(*, version) -> list[tuple[Running, DriftState | None]]:
    """Where a version runs now, each interval with its model's status in that environment (two queries)."""
    # running_now() less the version itself (the caller holds it)
    rows = Running.objects.current().filter(version=version).select_related("target", "environment")
    rows = list(rows.order_by("environment__order", "started_at", "pk"))
    states = DriftState.objects.filter(model_id=version.model_id, environment_id__in={r.environment_id for r in rows})
    by_env = {state.environment_id: state for state in states} if rows else {}
    return [(row, by_env.get(row.environment_id)) for row in rows]


def drift_state_list(*, user):
    """Statuses of the models `user` may view, exceptions first, then by model and environment."""
    rank = Case(When(status__in=EXCEPTIONS, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        DriftState.objects.filter(model__in=RegisteredModel.objects.restrict(user))
        .select_related("model__team", "environment", "approved_request__version")
        .annotate(exception_rank=rank)
        .order_by("exception_rank", "model__name", "environment__order", "pk")
    )


# --- targets and their observations ------------------------------------------------------------------------------


def target_list(*, user, data=None):
    """Targets `user` may see (portal admins: all; otherwise those their teams operate), with what runs now,
    filtered by `data` (DeploymentTargetFilter's fields): what the page and the API list. Raises ValidationError
    naming each filter whose value is bad."""
    running = Count("intervals", filter=Q(intervals__until__isnull=True))
    targets = (
        DeploymentTarget.objects.restrict(user)
        .select_related("environment", "team", "credential")
        .annotate(running_count=running)
        .order_by("environment__order", "name")
    )
    return filtered(DeploymentTargetFilter, targets, data)


def public_config(value):
    """A target's configuration as it may be shown: it holds no secret by rule, and URLs lose any user-info."""
    if isinstance(value, str):
        return git.redact(value)
    if isinstance(value, dict):
        return {key: public_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_config(item) for item in value]
    return {} if value is None else value


def target_get(*, user, pk) -> DeploymentTarget:
    """One target `user` may see, else 404 (the same answer whether it exists or not)."""
    return get_object_or_404(target_list(user=user), pk=pk)


def target_intervals(*, target: DeploymentTarget):
    """The target's observation history: every interval, newest first."""
    return target.intervals.select_related("model", "version").order_by("-started_at", "-pk")


def target_history(*, user, target: DeploymentTarget):
    """Audit events about the target itself (defined, edited, asked to observe), newest first."""
    events = AuditEvent.objects.filter(target_type=DeploymentTarget._meta.label_lower, target_id=str(target.pk))
    return events.readable_by(user).order_by("-sequence")


def visible_model_ids(*, user, model_ids) -> set[int]:
    """Which of these models `user` may view (to link only to pages that will open)."""
    ids = {pk for pk in model_ids if pk}
    if not ids:
        return set()
    return set(RegisteredModel.objects.restrict(user).filter(pk__in=ids).values_list("pk", flat=True))


def visible_target_ids(*, user, target_ids) -> set[int]:
    """Which of these targets `user` may see (to link only to pages that will open)."""
    if not target_ids:
        return set()
    return set(DeploymentTarget.objects.restrict(user).filter(pk__in=target_ids).values_list("pk", flat=True))


def observation_list(*, user):
    """Intervals `user` may see: of models they may view, or on targets their teams operate; newest first."""
    models = RegisteredModel.objects.restrict(user).values("pk")
    targets = DeploymentTarget.objects.restrict(user).values("pk")
    return (
        Running.objects.filter(Q(model_id__in=models) | Q(target_id__in=targets))
        .select_related("target", "environment", "model", "version")
        .order_by("-started_at", "-pk")
    )


# --- point in time -----------------------------------------------------------------------------------------------


@dataclass
class Approval:
    """The request that approved a version for an environment, as it stood at the time asked about."""

    request: DeploymentRequest
    approvers: list[Decision]

    @property
    def approved_at(self) -> datetime | None:
        return self.request.closed_at

    @property
    def policy_name(self) -> str | None:
        return (self.request.frozen_policy or {}).get("name")

    @property
    def policy_revision(self) -> int | None:
        return (self.request.frozen_policy or {}).get("revision")


@dataclass
class RunningAt:
    """One interval that covered the moment, the approval in force for its version then, and whether it was a
    rollback (an older version again, after a newer one)."""

    interval: Running
    approval: Approval | None
    rollback_from: str | None = None


@dataclass
class PointInTime:
    """What ran for a model in an environment at a moment; with nothing running, the intervals around the gap."""

    model: RegisteredModel
    environment: Environment
    moment: datetime
    running: list[RunningAt]
    before: Running | None  # the last interval that had ended by the moment
    after: Running | None  # the first interval that started after it

    @property
    def gap(self) -> bool:
        return not self.running

    @property
    def summary(self) -> str:
        """The answer in one paragraph, for people (the page) and programs that log it (the API)."""
        where = f"{self.model.name} in {self.environment.name} at {_utc(self.moment)}"
        if self.gap:
            before = (f"before it, {_version(self.before)} ran until {_utc(self.before.until)}" if self.before
                      else "nothing had run there before")  # fmt: skip
            after = (f"after it, {_version(self.after)} ran from {_utc(self.after.started_at)}" if self.after
                     else "nothing has run there since")  # fmt: skip
            return f"Nothing ran for {where}: {before}; {after}."
        return f"For {where}: " + " ".join(_sentence(item) for item in self.running)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _version(row: Running) -> str:
    return f"{row.version_label or 'an unnamed version'} (on {row.target.name})"


def _sentence(item: RunningAt) -> str:
    row, approval = item.interval, item.approval
    text = f"{_version(row)} ran since {_utc(row.started_at)}"
    if row.commit_sha:
        text += f", deployed by commit {row.commit_sha[:12]}" + (f" ({row.commit_author})" if row.commit_author else "")
    if item.rollback_from:
        text += f", a rollback from {item.rollback_from}"
    if approval is None:
        return text + "; no approval for this version in this environment was in force then."
    people = ", ".join(f"{d.printed_name} ({d.meaning})" for d in approval.approvers) or "no approver"
    policy = (f"policy “{approval.policy_name}” revision {approval.policy_revision}" if approval.policy_name
              else "no policy (the environment was not protected)")  # fmt: skip
    return (f"{text}; approved in request #{approval.request.pk} on {_utc(approval.approved_at)} by {people} under "
            f"{policy}.")  # fmt: skip


def _approvals(environment, version_ids, moment) -> dict[int, Approval]:
    """Per version, the latest request approving it for `environment` at or before `moment` (two queries)."""
    if not version_ids:
        return {}
    approved = DeploymentRequest.objects.filter(
        state=RequestState.APPROVED, environment=environment, closed_at__lte=moment
    )
    newest = approved.filter(version_id=OuterRef("version_id")).order_by("-closed_at", "-pk").values("pk")[:1]
    signed = Decision.objects.filter(outcome=Outcome.APPROVE, voided_at__isnull=True).order_by("decided_at", "pk")
    requests = approved.filter(version_id__in=version_ids, pk=Subquery(newest)).prefetch_related(
        Prefetch("decisions", queryset=signed, to_attr="approving")
    )
    return {request.version_id: Approval(request, request.approving) for request in requests}


def _is_rollback(row: Running, before: Running | None, ran_earlier: set[str]) -> bool:
    if before is None or before.version_label == row.version_label:
        return False
    if row.version_label in ran_earlier:
        return True
    return bool(row.version and before.version and row.version.created_at < before.version.created_at)


def deployed_at(*, user, model: RegisteredModel, environment: Environment, moment: datetime) -> PointInTime:
    """What ran for `model` in `environment` at `moment`: since when, deployed by which commit, approved by whom
    under which policy revision; in a gap, the intervals before and after it. 404 for a model `user` may not view.

    At most seven queries, whatever the length of the history.
    """
    model = get_object_or_404(RegisteredModel.objects.restrict(user), pk=model.pk)
    intervals = Running.objects.filter(model=model, environment=environment).select_related("target", "version")
    covering = list(intervals.at(moment).order_by("started_at", "pk"))
    before = intervals.filter(until__lte=moment).order_by("-until", "-pk").first()
    after = intervals.filter(started_at__gt=moment).order_by("started_at", "pk").first()
    ran_earlier: set[str] = set()
    labels = {row.version_label for row in covering} - {before.version_label if before else None}
    if before is not None and labels:
        earlier = intervals.filter(version_label__in=labels, until__lte=before.started_at)
        ran_earlier = set(earlier.values_list("version_label", flat=True).distinct())
    approvals = _approvals(environment, {row.version_id for row in covering if row.version_id}, moment)
    running = [
        RunningAt(row, approvals.get(row.version_id),
                  before.version_label if _is_rollback(row, before, ran_earlier) else None)
        for row in covering
    ]  # fmt: skip
    return PointInTime(model, environment, moment, running, before, after)


def break_glass_list(*, user):
    """Emergency deployments of models the user may see: open ones first, newest first."""
    return (
        BreakGlass.objects.restrict(user)
        .select_related("version__model", "environment", "recorded_by", "post_hoc_request")
        .order_by(F("closed_at").desc(nulls_first=True), "-recorded_at", "-pk")
    )


def request_rollouts(*, request):
    """The rollouts of one deployment request (for readers who may already see the request)."""
    return Rollout.objects.filter(request=request).select_related("target").order_by("pk")


def _badges(approved, running) -> dict[int, list[dict]]:
    """{version id: badges} from (version id, environment) pairs where a version is approved and where it runs."""
    badges: dict[int, dict[str, dict]] = {}
    for version_id, environment in approved:
        badges.setdefault(version_id, {}).setdefault(environment.name, {"environment": environment.name,
            "order": environment.order, "approved": True, "running": False})  # fmt: skip
    for version_id, environment in running:
        badge = badges.setdefault(version_id, {}).setdefault(environment.name, {"environment": environment.name,
            "order": environment.order, "approved": False, "running": False})  # fmt: skip
        badge["running"] = True
    result = {}
    for version_id, by_name in badges.items():
        rows = sorted(by_name.values(), key=lambda badge: badge["order"])
        for badge in rows:
            state = "approved" if badge["approved"] else "not approved"
            badge["title"] = f"{state} for {badge['environment']}" + ("; runs there now" if badge["running"] else "")
        result[version_id] = rows
    return result


@dataclass
class ModelPage:
    """What the model page shows of deployments: its block's cells (model_deployments()), the environments they
    were read with, and per listed version the environments it is approved for and runs in (its badges)."""

    environments: list[Environment]
    cells: list[Cell]
    badges: dict[int, list[dict]]


def model_page_deployments(*, model: RegisteredModel, version_ids) -> ModelPage:
    """The model page's deployments block and its versions' badges, in four queries: the environments, the
    model's statuses, what runs now, and in one the approved requests of the listed versions with the latest
    approved per environment (the version that should run there)."""
    environments = list(environment_list())
    by_id = {env.pk: env for env in environments}
    cells = {env.pk: Cell(environment=env, observed=env.observed) for env in environments}
    version_ids = set(version_ids)
    # What the block shows and nothing more: the statuses unordered (their default order joins two tables), what
    # runs with its target's name (the labels are on the rows). Compiling the SQL is most of these queries' cost.
    for state in DriftState.objects.filter(model_id=model.pk).order_by():
        cells[state.environment_id].state = state
    running = Running.objects.current().filter(model_id=model.pk).select_related("target")
    running = list(running.order_by("started_at", "pk"))
    for row in running:
        cells[row.environment_id].running.append(row)
    newest = (
        DeploymentRequest.objects.filter(
            state=RequestState.APPROVED, model_id=model.pk, environment_id=OuterRef("environment_id")
        )
        .order_by(F("closed_at").desc(nulls_last=True), "-pk")
        .values("pk")[:1]
    )
    approved = (
        DeploymentRequest.objects.filter(state=RequestState.APPROVED, model_id=model.pk)
        .annotate(newest_pk=Subquery(newest))
        .filter(Q(version_id__in=version_ids) | Q(pk=F("newest_pk")))
        .select_related("version")
        .only("version_id", "environment_id", "closed_at", "version__version")
        .order_by()
    )
    approved_pairs = []
    for request in approved:
        if request.pk == request.newest_pk:
            cells[request.environment_id].approved = request
        if request.version_id in version_ids:
            approved_pairs.append((request.version_id, by_id[request.environment_id]))
    running_pairs = [(row.version_id, by_id[row.environment_id]) for row in running if row.version_id in version_ids]
    return ModelPage(
        environments=environments,
        cells=[cells[env.pk] for env in environments if not cells[env.pk].empty],
        badges=_badges(approved_pairs, running_pairs),
    )
