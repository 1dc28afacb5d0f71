"""Deployment targets, the intervals in which a model version was seen running on them, and drift per model.

Observations are kept as intervals, not snapshots: a row opens when a target starts reporting a (model,
version, digest) and closes when it stops, so storage grows with changes, not with polls. `DriftState` holds the
one status per (model, environment) that the portal shows and audits when it changes.
"""

from django.db import models
from django.db.models import Q

from apps.accounts import permissions
from apps.core.querysets import RestrictedQuerySet


class TargetKind(models.TextChoices):
    GITOPS = "gitops", "GitOps repository (Kubernetes, KServe, Seldon manifests)"
    KSERVE_V2 = "kserve-v2", "Model server (Open Inference Protocol / KServe v2)"
    MLFLOW = "mlflow", "MLflow Model Registry aliases"


class TargetStatus(models.TextChoices):
    NEVER = "never", "Not observed yet"
    OK = "ok", "Observed"
    UNKNOWN = "unknown", "Unknown"


class DriftStatus(models.TextChoices):
    IN_SYNC = "in_sync", "In sync"
    UNAPPROVED = "unapproved", "Unapproved"
    DIGEST_MISMATCH = "digest_mismatch", "Digest mismatch"
    ROLLOUT_PENDING = "rollout_pending", "Rollout pending"
    ROLLOUT_OVERDUE = "rollout_overdue", "Rollout overdue"
    RETIRED_BUT_RUNNING = "retired_running", "Retired but running"
    UNKNOWN = "unknown", "Unknown"


# What is a compliance exception (shown first, audited as drift, e-mailed); the rest is the normal course of things.
EXCEPTIONS = frozenset(
    {
        DriftStatus.UNAPPROVED,
        DriftStatus.DIGEST_MISMATCH,
        DriftStatus.ROLLOUT_OVERDUE,
        DriftStatus.RETIRED_BUT_RUNNING,
        DriftStatus.UNKNOWN,
    }
)


class DeploymentTargetQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(team_id__in=permissions.team_ids_with(user, action))


class DeploymentTarget(models.Model):
    """Somewhere models run, observed by the workers: a GitOps repository, a model server or an MLflow registry.

    Portal admins define targets. `config` is checked by the kind's adapter; a secret is never in it: the target
    names a credential a portal admin granted to the operating team, sent only to that credential's hosts.
    """

    name = models.CharField(max_length=120, unique=True)
    environment = models.ForeignKey("inventory.Environment", on_delete=models.PROTECT, related_name="targets")
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, related_name="targets",
        help_text="The team that operates the target: its members see it, and its credential must be granted to it.",
    )  # fmt: skip
    kind = models.CharField(max_length=20, choices=TargetKind.choices)
    config = models.JSONField(default=dict, blank=True)
    credential = models.ForeignKey(
        "accounts.GrantedCredential", null=True, blank=True, on_delete=models.PROTECT, related_name="targets"
    )
    enabled = models.BooleanField(default=True)
    interval_seconds = models.PositiveIntegerField(
        "observation interval (seconds)", default=300, help_text="How often the workers observe the target."
    )
    last_status = models.CharField(max_length=10, choices=TargetStatus.choices, default=TargetStatus.NEVER)
    last_error = models.TextField(blank=True)
    last_observed_at = models.DateTimeField(null=True, blank=True)
    observe_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeploymentTargetQuerySet.as_manager()

    class Meta:
        ordering = ["environment__order", "name"]

    def __str__(self):
        return self.name

    @property
    def permission_team_id(self):
        return self.team_id

    def audit_scope(self) -> dict:
        return {"team": self.team_id, "environment": self.environment_id}


class RunningQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(model__team_id__in=permissions.team_ids_with(user, action))

    def current(self):
        return self.filter(until__isnull=True)

    def at(self, moment):
        """Intervals that covered `moment`: started at or before it, and not ended by then."""
        return self.filter(Q(until__isnull=True) | Q(until__gt=moment), started_at__lte=moment)


class Running(models.Model):
    """One interval in which a target reported running one (model, version, digest).

    `model` and `version` link to the inventory when the observed identity matches it; the observed strings are
    kept either way (an unregistered model running is exactly what an auditor must see).
    """

    target = models.ForeignKey(DeploymentTarget, on_delete=models.CASCADE, related_name="intervals")
    environment = models.ForeignKey("inventory.Environment", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(
        "inventory.RegisteredModel", null=True, blank=True, on_delete=models.PROTECT, related_name="running"
    )
    version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="running"
    )
    model_key = models.CharField("observed model", max_length=200)
    version_label = models.CharField("observed version", max_length=200, blank=True)
    digest = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=500, blank=True, help_text="Where the target says it: a manifest path…")
    since = models.DateTimeField(null=True, blank=True, help_text="When the target says it started, where it says.")
    commit_sha = models.CharField(max_length=64, blank=True)
    commit_author = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(db_index=True, help_text="First observed.")
    last_seen_at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, db_index=True, help_text="Observed gone; empty: runs now.")

    objects = RunningQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(fields=["target", "until"], name="running_target_open"),
            models.Index(fields=["model", "environment", "started_at"], name="running_model_env"),
        ]

    def __str__(self):
        return f"{self.model_key} {self.version_label} on {self.target_id}"

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return self.model_key, self.version_label, self.digest, self.location


class DriftStateQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(model__team_id__in=permissions.team_ids_with(user, action))


class DriftState(models.Model):
    """What runs for a model in an environment compared with what was approved there: one status, and why."""

    model = models.ForeignKey("inventory.RegisteredModel", on_delete=models.CASCADE, related_name="drift")
    environment = models.ForeignKey("inventory.Environment", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=DriftStatus.choices, db_index=True)
    running_version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    running_label = models.CharField(max_length=200, blank=True)
    approved_request = models.ForeignKey(
        "approvals.DeploymentRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    since = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = DriftStateQuerySet.as_manager()

    class Meta:
        ordering = ["model__name", "environment__order"]
        constraints = [models.UniqueConstraint(fields=["model", "environment"], name="unique_drift_model_environment")]

    def __str__(self):
        return f"{self.model} in {self.environment}"

    @property
    def permission_team_id(self):
        return self.model.team_id

    @property
    def is_exception(self) -> bool:
        return self.status in EXCEPTIONS

    def audit_scope(self) -> dict:
        return {"team": self.model.team_id, "model": self.model_id, "environment": self.environment_id}


class RolloutStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Deployed"
    FAILED = "failed", "Failed"


class Rollout(models.Model):
    """One approved request deployed through one target: made in the approving transaction, done once by a worker.

    The (request, target) pair is unique, so approving twice or re-running the task never makes a second rollout;
    a worker claims the row before touching the target, and the adapter's deploy() is idempotent (it first looks
    whether the target already declares the approved version), so a worker killed mid-rollout is finished by the
    next one without deploying twice. `break_glass` is set instead of `request` for an emergency deployment.
    """

    request = models.ForeignKey(
        "approvals.DeploymentRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="rollouts"
    )
    break_glass = models.ForeignKey(
        "deployments.BreakGlass", null=True, blank=True, on_delete=models.PROTECT, related_name="rollouts"
    )
    target = models.ForeignKey(DeploymentTarget, on_delete=models.PROTECT, related_name="rollouts")
    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(max_length=100, blank=True, help_text="The approved artifact digest, deployed as is.")
    status = models.CharField(max_length=10, choices=RolloutStatus.choices, default=RolloutStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    detail = models.TextField(blank=True, help_text="What the target did (a commit, an alias), or why it failed.")
    reference = models.CharField(max_length=200, blank=True, help_text="The commit SHA or alias version deployed.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="After a transient failure: not tried again before this (the backoff)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "target"], name="unique_rollout_request_target"),
            models.UniqueConstraint(fields=["break_glass", "target"], name="unique_rollout_break_glass_target"),
            models.CheckConstraint(
                condition=Q(request__isnull=False) ^ Q(break_glass__isnull=False), name="rollout_has_one_authority"
            ),
        ]

    def __str__(self):
        return f"{self.version} to {self.target}"

    @property
    def permission_team_id(self):
        return self.version.model.team_id

    def audit_scope(self) -> dict:
        return {
            "team": self.version.model.team_id, "model": self.version.model_id, "version": self.version_id,
            "environment": self.target.environment_id, "request": self.request_id,
        }  # fmt: skip


class BreakGlassQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(version__model__team_id__in=permissions.team_ids_with(user, action))

    def open(self):
        return self.filter(closed_at__isnull=True)


class BreakGlass(models.Model):
    """An emergency deployment a portal admin recorded: deployed by the portal, or by hand and recorded here.

    It stays an open exception until a post-hoc request for the same version and environment is approved; a
    rejected post-hoc request leaves it open and says so.
    """

    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.PROTECT, related_name="break_glass")
    environment = models.ForeignKey("inventory.Environment", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(max_length=5000)
    deployed_by_portal = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", help_text="The portal admin who recorded it."
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    post_hoc_request = models.ForeignKey(
        "approvals.DeploymentRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    post_hoc_outcome = models.CharField(max_length=20, blank=True, help_text="rejected, cancelled or expired so far.")
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = BreakGlassQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-pk"]

    def __str__(self):
        return f"Break-glass: {self.version} in {self.environment}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def permission_team_id(self):
        return self.version.model.team_id

    def audit_scope(self) -> dict:
        return {"team": self.version.model.team_id, "model": self.version.model_id, "version": self.version_id,
                "environment": self.environment_id}  # fmt: skip
