"""Scripted deployment histories for the pages, the API and the selectors: targets, observation intervals, approved
requests and statuses written directly with explicit timestamps (furniture: the observer and the approvals
workflow have their own tests)."""

from datetime import timedelta
from types import SimpleNamespace

from django.utils import timezone

from apps.approvals.models import Decision, DeploymentRequest, RequestState, RequestStep, StepState
from apps.deployments.models import DeploymentTarget, DriftState, Running, TargetStatus
from apps.inventory.models import RegisteredModel

BASE = (timezone.now() - timedelta(days=30)).replace(microsecond=0)


def at(hours: float):
    return BASE + timedelta(hours=hours)


def target(cast, environment, *, name="prod-gitops", team=None, **fields):
    fields = {"kind": "gitops", "config": {"url": "https://github.com/acme/deploy.git", "paths": ["prod/*.yaml"]},
              "last_status": TargetStatus.OK, "last_observed_at": timezone.now()} | fields  # fmt: skip
    return DeploymentTarget.objects.create(name=name, environment=environment, team=team or cast.team_a, **fields)


def interval(on, version, start, end=None, *, commit="", author="", model=None):
    """`version` (a ModelVersion) seen on target `on` from `start` to `end` (None: runs now), hours after BASE."""
    return Running.objects.create(
        target=on, environment_id=on.environment_id, model=model or version.model, version=version,
        model_key=(model or version.model).slug, version_label=version.version, digest=version.artifact_digest,
        location="prod/scorecard.yaml#InferenceService/scorer", commit_sha=commit, commit_author=author,
        started_at=at(start), last_seen_at=at(end if end is not None else start), until=at(end) if end else None,
    )  # fmt: skip


def approved(cast, version, environment, hours, *, approver=None, policy="Production high risk", revision=3):
    """A request for `version` in `environment` approved `hours` after BASE under `policy` (None: no policy)."""
    approver = approver or cast.rita
    request = DeploymentRequest.objects.create(
        version=version, environment=environment, requester=cast.dana, justification="Release.",
        state=RequestState.APPROVED, frozen_policy={"name": policy, "revision": revision, "steps": []},
        subject={"model": version.model.name, "version": version.version, "environment": environment.name,
                 "artifact_digest": version.artifact_digest},
        round=1, submitted_at=at(hours - 1), closed_at=at(hours),
    )  # fmt: skip
    step = RequestStep.objects.create(request=request, order=1, name="Model risk review", approver_kind="role",
                                      role="approver", quorum=1, state=StepState.APPROVED)  # fmt: skip
    Decision.objects.create(
        request=request, step=step, approver=approver, outcome="approve", eligibility="Approver of Credit Risk",
        decided_at=at(hours), signed=True, printed_name=approver.get_full_name(), username=approver.username,
        meaning="Approved as Model risk review", signature_hash="f" * 64,
    )  # fmt: skip
    return request


def status(model, environment, value, reason="", **fields):
    reason = reason or f"{model.name}: {value}."
    return DriftState.objects.create(
        model=model, environment=environment, status=value, reason=reason, since=timezone.now(), **fields
    )


def scripted(cast, models, envs):
    """Retail Scorecard in production, hours after BASE:

     0  1.0.0 approved (rita, policy revision 3)
     1  1.0.0 starts on prod-gitops (commit c1)
     3  1.1.0 replaces it (commit c2), not approved yet
     4  1.1.0 approved (sam, policy revision 4)
     8  1.1.0 observed gone: nothing runs (a gap)
    10  1.0.0 runs again (commit c3): a rollback, under its earlier approval
    """
    v1, v2 = (models.scorecard.versions.get(version=v) for v in ("1.0.0", "1.1.0"))
    on = target(cast, envs.production)
    history = SimpleNamespace(target=on, v1=v1, v2=v2)
    history.a1 = approved(cast, v1, envs.production, 0)
    history.r1 = interval(on, v1, 1, 3, commit="c1" * 20, author="Dana Dev <dana@example.org>")
    history.r2 = interval(on, v2, 3, 8, commit="c2" * 20)
    history.a2 = approved(cast, v2, envs.production, 4, approver=cast.sam, revision=4)
    history.r3 = interval(on, v1, 10, commit="c3" * 20)
    return history


def extra_models(cast, count: int, environment, on, value="unapproved"):
    """`count` more Credit Risk models, each approved and running 1.0 on `on`, with status `value`: matrix rows."""
    from apps.inventory.models import ModelVersion

    made = []
    for _ in range(count):
        n = RegisteredModel.objects.filter(name__startswith="Extra").count()
        model = RegisteredModel.objects.create(name=f"Extra {n:03d}", slug=f"extra-{n:03d}", team=cast.team_a,
                                               risk_tier="low")  # fmt: skip
        version = ModelVersion.objects.create(model=model, version="1.0")
        interval(on, version, 1)
        approved(cast, version, environment, 0)
        status(model, environment, value)
        made.append(model)
    return made
