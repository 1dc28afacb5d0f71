"""GitHub custom deployment protection rules: a run waiting at an environment becomes a deployment request, and the
request's outcome becomes the run's answer.

GitHub (through a GitHub App) sends `deployment_protection_rule` when a job targets a protected environment. The
portal maps (repository, commit, environment) to exactly one model version and one environment, opens a request as
the team's `github-deployments` service account (or joins the open request for the same version and environment),
and when that request closes calls GitHub back: approved → "approved"; rejected, withdrawn or expired → "rejected".
Anything it cannot map is answered "rejected" with the reason: the portal fails closed.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts import tokens
from apps.accounts.models import User
from apps.approvals import services as approvals
from apps.approvals.exceptions import ApprovalError
from apps.approvals.models import OPEN_STATES, DeploymentRequest, RequestState
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record
from apps.gitsync.models import GitRepository
from apps.inventory.models import Environment, ModelVersion

from . import github_api
from .exceptions import CallbackRefused, CallbackUnavailable, CallbackUrlRefused
from .models import GateAnswer, GateState, GitHubDeploymentGate, Outcome
from .receipts import Receipt

ACCOUNT_PREFIX = "github-deployments"  # the team's service account: svc-github-deployments-<team slug>
CLAIM = timedelta(minutes=5)  # longer than one call to GitHub can take
SWEEP_QUIET = timedelta(minutes=10)  # the sweep leaves a gate alone this long after an attempt (retries run)
CLOSED_STATES = [state for state in RequestState.values if state not in OPEN_STATES]
_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


def _actor() -> Actor:
    return Actor.system(ACCOUNT_PREFIX)


class _Refusal(Exception):
    """Why a run is answered `rejected` without a request; the text is GitHub's comment, so it says what to do."""


# --- receiving the event --------------------------------------------------------------------------------------------


def deployment_protection_rule_receive(payload: dict, repository: GitRepository) -> Receipt:
    """A run asks to deploy a commit to an environment: gate it on a deployment request (the webhook handler).

    Runs in the delivery's transaction. A repeated delivery for the same run, environment and commit finds its
    gate and opens nothing. A callback URL the portal may not call is refused, recorded and never called.
    """
    names = (repository.name,)
    if payload.get("action") != "requested":
        return Receipt(Outcome.IGNORED, f"The {str(payload.get('action'))[:50]} action is not used.", names)
    environment, sha, url = payload.get("environment"), payload.get("sha"), payload.get("deployment_callback_url")
    if not isinstance(environment, str) or not 0 < len(environment) <= 255:
        return Receipt(Outcome.REJECTED, "The delivery names no environment; GitHub is not called back.", names)
    if not isinstance(sha, str) or not _SHA.match(sha):
        return Receipt(Outcome.REJECTED, "The delivery names no commit SHA; GitHub is not called back.", names)
    try:
        run_id = github_api.callback_run_id(url, repository.github_full_name)
    except CallbackUrlRefused as exc:
        return Receipt(Outcome.REJECTED, str(exc), names)
    key = {"repository": repository, "run_id": run_id, "environment": environment, "sha": sha.lower()}
    gate = GitHubDeploymentGate.objects.filter(**key).first()
    if gate is not None:
        return _joined(gate, names)
    try:
        with transaction.atomic():  # a savepoint: another delivery for the same run may be creating it right now
            gate = GitHubDeploymentGate.objects.create(**key, callback_url=url, **_details(payload))
    except IntegrityError:
        gate = GitHubDeploymentGate.objects.filter(**key).first()
        if gate is None:
            raise
        return _joined(gate, names)
    try:
        gate.request = _request_for(gate, repository)
    except _Refusal as exc:
        gate.refusal = str(exc)
        gate.save(update_fields=["refusal"])
        from .tasks import github_gate_answer_task

        github_gate_answer_task.delay_on_commit(gate.pk)
        return Receipt(Outcome.REJECTED, gate.refusal, names)
    gate.save(update_fields=["request"])
    # A request that closed at once (no policy governs an unprotected environment) sends request_closed on commit.
    return Receipt(Outcome.GATED, f"GitHub Actions run {run_id} waits on request #{gate.request_id}.", names)


def _details(payload: dict) -> dict:
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    ref, event = payload.get("ref"), payload.get("event")
    return {
        "ref": ref[:255] if isinstance(ref, str) else "",
        "event": event[:64] if isinstance(event, str) else "",
        "installation_id": installation_id if type(installation_id) is int and 0 < installation_id < 2**63 else None,
    }


def _joined(gate: GitHubDeploymentGate, names: tuple) -> Receipt:
    if gate.request_id is None:
        return Receipt(Outcome.REJECTED, gate.refusal, names)
    if gate.state == GateState.ANSWERED:
        return Receipt(Outcome.GATED, f"GitHub Actions run {gate.run_id} was answered {gate.answered_state}.", names)
    return Receipt(
        Outcome.GATED, f"GitHub Actions run {gate.run_id} already waits on request #{gate.request_id}.", names
    )


def _request_for(gate: GitHubDeploymentGate, repository: GitRepository) -> DeploymentRequest:
    """The open request for the run's version and environment, or a new one submitted as the team's account."""
    environment = _environment(gate.environment)
    version = _version(repository, gate.sha)
    # Serialise gates for one version, so two runs of the same commit open one request, not two.
    version = ModelVersion.objects.select_for_update(of=("self",)).select_related("model").get(pk=version.pk)
    open_requests = DeploymentRequest.objects.select_for_update().filter(
        version=version, environment=environment, state__in=OPEN_STATES
    )
    existing = open_requests.order_by("pk").first()
    if existing is not None:
        return existing
    account = _account(repository)
    ref = gate.ref or "no ref"
    justification = f"GitHub Actions run {gate.run_id} asks to deploy {gate.sha[:10]} to {gate.environment} ({ref})."
    try:
        return approvals.request_deployment(
            actor=Actor.of(account), version=version, environment=environment, justification=justification
        )
    except (ApprovalError, PermissionDenied, ValidationError) as exc:  # nothing was kept: it ran in a savepoint
        reason = exc.message if isinstance(exc, ApprovalError) else " ".join(getattr(exc, "messages", [str(exc)]))
        raise _Refusal(
            f"GovPortal could not open a deployment request for {version} to {environment}: {reason}"
        ) from exc


def _environment(name: str) -> Environment:
    matches = list(Environment.objects.filter(Q(slug__iexact=name) | Q(name__iexact=name)))
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(environment.name for environment in matches)
        raise _Refusal(f"The GitHub environment {name!r} matches several GovPortal environments ({listed}).")
    known = ", ".join(Environment.objects.values_list("name", flat=True)) or "none"
    raise _Refusal(
        f"GovPortal has no environment named {name!r} (it has: {known}), so it cannot approve this deployment."
    )


def _version(repository: GitRepository, sha: str) -> ModelVersion:
    candidates = ModelVersion.objects.filter(
        model__source_repository_url=repository.url, model__team_id=repository.team_id,
        git_commit_sha__iexact=sha, deregistered=False,
    ).select_related("model").order_by("model__name", "version")  # fmt: skip
    versions = list(candidates[:6])
    if len(versions) == 1:
        return versions[0]
    if not versions:
        raise _Refusal(
            f"No model version synced from {repository.name} ({repository.url}) is at commit {sha[:10]}, so GovPortal "
            "has nothing to approve. Register the version (or let Git sync find it), then re-run the job."
        )
    listed = ", ".join(str(version) for version in versions[:5]) + (", …" if len(versions) > 5 else "")
    raise _Refusal(
        f"Commit {sha[:10]} of {repository.name} is several model versions in GovPortal ({listed}); it cannot tell "
        "which one this deployment ships, so it rejects it."
    )


def _account(repository: GitRepository) -> User:
    """The team's service account that requests deployments for GitHub runs, made on first use."""
    team = repository.team
    name = f"{ACCOUNT_PREFIX}-{team.slug}"
    username = f"svc-{slugify(name)}"[:150]
    account = User.objects.filter(username=username, is_service_account=True, memberships__team=team).first()
    if account is None and not User.objects.filter(username=username).exists():
        account = tokens.service_account_create(
            actor=_actor(), team=team, name=name,
            description="Requests deployments for GitHub Actions runs (deployment protection rule).",
        )  # fmt: skip
    if account is None:
        raise _Refusal(
            f"The username {username} is taken by an account that is not {team}'s service account, so {team} "
            f"cannot take deployment requests from GitHub Actions; rename that account."
        )
    if not account.is_active:
        raise _Refusal(f"{username} is deactivated, so {team} takes no deployment requests from GitHub Actions.")
    return account


# --- answering GitHub -----------------------------------------------------------------------------------------------


def request_url(request_id: int) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("approvals:request-detail", args=[request_id])


def gate_answer(gate: GitHubDeploymentGate) -> tuple[str, str] | None:
    """The (state, comment) GitHub gets for `gate`, or None while its request is open."""
    if gate.request_id is None:
        return GateAnswer.REJECTED, gate.refusal[:1000]
    request = gate.request
    if request.is_open():
        return None
    url = request_url(request.pk)
    said = {
        RequestState.APPROVED: "was approved",
        RequestState.REJECTED: "was rejected",
        RequestState.CANCELLED: "was withdrawn, so this deployment is rejected",
        RequestState.EXPIRED: "expired before it was decided, so this deployment is rejected",
    }[request.state]
    state = GateAnswer.APPROVED if request.state == RequestState.APPROVED else GateAnswer.REJECTED
    return state, f"GovPortal request #{request.pk} {said}: {url}"


def gates_waiting_on(request_id: int) -> list[int]:
    return list(
        GitHubDeploymentGate.objects.filter(request_id=request_id, state=GateState.PENDING).values_list("pk", flat=True)
    )


def gates_due(now=None) -> list[int]:
    """Gates with an answer to send and no attempt in flight or just made: the beat sweep's safety net."""
    now = now or timezone.now()
    answerable = Q(request__isnull=True) | Q(request__state__in=CLOSED_STATES)
    idle = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    quiet = Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=now - SWEEP_QUIET)
    due = GitHubDeploymentGate.objects.filter(answerable, idle, quiet, state=GateState.PENDING).order_by("pk")
    return list(due.values_list("pk", flat=True)[:500])


def github_gate_answer(*, gate_id: int) -> str:
    """Send a waiting run its answer, once there is one. Returns what happened, for the task's result.

    The gate is claimed for the call rather than locked (no transaction is held across the network). Once GitHub
    took the answer, `github.deployment_answered` is recorded; if GitHub cannot be reached now, the error is kept
    on the pending gate and CallbackUnavailable re-raised for the task to retry; a refusal marks the gate failed.
    """
    gate = GitHubDeploymentGate.objects.select_related("repository", "request").filter(pk=gate_id).first()
    if gate is None or gate.state != GateState.PENDING:
        return "done"
    answer = gate_answer(gate)
    if answer is None:
        return "waiting"
    if not _claim(gate):
        return "busy"
    state, comment = answer
    try:
        github_api.deployment_answer_post(
            url=gate.callback_url, full_name=gate.repository.github_full_name, environment=gate.environment,
            state=state, comment=comment,
        )  # fmt: skip
    except CallbackUnavailable as exc:
        _attempted(gate, error=str(exc))
        raise
    except CallbackRefused as exc:
        _attempted(gate, error=str(exc), failed=True)
        return "failed"
    except BaseException:
        _attempted(gate, error="The call to GitHub was interrupted.")
        raise
    _answered(gate, state, comment)
    return "answered"


def _claim(gate: GitHubDeploymentGate) -> bool:
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = GitHubDeploymentGate.objects.filter(free, pk=gate.pk, state=GateState.PENDING)
    return claimed.update(claimed_until=now + CLAIM) == 1


def _attempted(gate: GitHubDeploymentGate, *, error: str, failed: bool = False) -> None:
    changes = {"state": GateState.FAILED} if failed else {}
    GitHubDeploymentGate.objects.filter(pk=gate.pk, state=GateState.PENDING).update(
        attempts=F("attempts") + 1, last_attempt_at=timezone.now(), last_error=error[:1000], claimed_until=None,
        **changes,
    )  # fmt: skip


@transaction.atomic
def _answered(gate: GitHubDeploymentGate, state: str, comment: str) -> None:
    now = timezone.now()
    answered = GitHubDeploymentGate.objects.filter(pk=gate.pk, state=GateState.PENDING).update(
        state=GateState.ANSWERED, answered_state=state, answered_at=now, attempts=F("attempts") + 1,
        last_attempt_at=now, last_error="", claimed_until=None,
    )  # fmt: skip
    if not answered:
        return
    record(
        action=Action.GITHUB_DEPLOYMENT_ANSWERED,
        actor=_actor(),
        target=gate,
        changes={
            "state": [None, state], "request": [None, gate.request_id], "run": [None, gate.run_id],
            "environment": [None, gate.environment], "sha": [None, gate.sha], "comment": [None, comment],
        },
    )  # fmt: skip


# --- when the artifact under a gated request changes ----------------------------------------------------------------


def github_requests_withdraw_for_version_change(*, version: ModelVersion) -> int:
    """Withdraw the open requests a gate account made for `version`, whose artifact just changed.

    Approvals puts such a request back to draft, and only its requester (the account) could submit it again, so
    the run would wait until GitHub gives up. Withdrawn, it is answered "rejected" at once; re-running the job
    asks again for the new artifact. Runs in the caller's transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("must run inside the transaction that changed the version")
    gated = DeploymentRequest.objects.filter(
        version=version, state__in=OPEN_STATES, github_gates__state=GateState.PENDING,
        requester__is_service_account=True, requester__username__startswith=f"svc-{ACCOUNT_PREFIX}-",
    ).select_related("requester").distinct()  # fmt: skip
    reason = f"The artifact of {version} changed after GitHub Actions asked to deploy it; re-run the job."
    count = 0
    for request in gated:
        approvals.deployment_request_cancel(actor=Actor.of(request.requester), request=request, reason=reason)
        count += 1
    return count
