from django.db import models
from django.utils import timezone

from apps.accounts import permissions
from apps.core.querysets import RestrictedQuerySet


class Outcome(models.TextChoices):
    QUEUED = "queued", "Sync queued"
    COALESCED = "coalesced", "Joined a sync already queued"
    IGNORED = "ignored", "Ignored"
    REJECTED = "rejected", "Rejected"  # a handler refused a signed delivery (e.g. a callback URL outside GitHub's API)
    GATED = "gated", "Waiting on a deployment request"
    OK = "ok", "OK"


class WebhookDeliveryQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(repository__team_id__in=permissions.team_ids_with(user, action))


class WebhookDelivery(models.Model):
    """A signed delivery GitHub sent, and what the portal did with it: the log that de-duplicates deliveries.

    Only deliveries whose signature matched a repository's secret are stored, so unauthenticated noise cannot
    claim delivery ids; refused ones are `webhook.rejected` audit events instead. GitHub gives one event the
    same delivery id in every webhook it reaches, so the id is unique per repository, not across the table.
    """

    delivery_id = models.CharField("delivery", max_length=64)
    event = models.CharField(max_length=64)
    repository = models.ForeignKey(
        "gitsync.GitRepository", null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    # Frozen copy of the payload's owner/name, so the log still reads after the repository is deleted.
    full_name = models.CharField("GitHub repository", max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    detail = models.TextField(blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["repository", "delivery_id"], name="unique_delivery_per_repository")
        ]

    def __str__(self):
        return f"{self.event} {self.delivery_id}"

    @property
    def permission_team_id(self):
        return self.repository.team_id if self.repository_id else None


class GateState(models.TextChoices):
    PENDING = "pending", "Waiting to answer"
    ANSWERED = "answered", "Answered"
    FAILED = "failed", "GitHub refused the answer"


class GateAnswer(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class GitHubDeploymentGateQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(repository__team_id__in=permissions.team_ids_with(user, action))


class GitHubDeploymentGate(models.Model):
    """A GitHub Actions run waiting at a protected environment (a custom deployment protection rule) for the portal.

    One per (repository, run, environment, commit): GitHub's repeated deliveries for the same run find this row, so
    they never open a second deployment request. The run is answered once its request closes, or at once (rejected,
    with `refusal` as the reason) when the portal could not open a request for it. Only callback URLs under
    settings.GITHUB_API_URL are ever stored or called.
    """

    repository = models.ForeignKey("gitsync.GitRepository", on_delete=models.PROTECT, related_name="deployment_gates")
    run_id = models.PositiveBigIntegerField("workflow run")
    environment = models.CharField("GitHub environment", max_length=255)
    sha = models.CharField("commit", max_length=64)
    ref = models.CharField(max_length=255, blank=True)
    event = models.CharField("workflow event", max_length=64, blank=True)
    installation_id = models.PositiveBigIntegerField("GitHub App installation", null=True, blank=True)
    callback_url = models.CharField("callback URL", max_length=500)
    request = models.ForeignKey(
        "approvals.DeploymentRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="github_gates"
    )
    refusal = models.TextField(blank=True, help_text="Why the run is rejected without a request.")
    state = models.CharField(max_length=10, choices=GateState.choices, default=GateState.PENDING, db_index=True)
    answered_state = models.CharField(max_length=10, choices=GateAnswer.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # A worker calling GitHub holds the gate until then, so two workers never send the same answer at once.
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = GitHubDeploymentGateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "GitHub deployment gate"
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "run_id", "environment", "sha"], name="unique_gate_per_run_environment_sha"
            ),
            models.CheckConstraint(condition=models.Q(state__in=GateState.values), name="gate_state_valid"),
        ]

    def __str__(self):
        return f"GitHub run {self.run_id} → {self.environment} ({self.sha[:10]})"

    @property
    def permission_team_id(self):
        return self.repository.team_id

    def audit_scope(self) -> dict:
        scope = self.request.audit_scope() if self.request_id else {}
        return scope | {"team": self.repository.team_id}
