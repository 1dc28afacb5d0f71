from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts import permissions
from apps.core.querysets import RestrictedQuerySet
from apps.inventory.models import RiskTier


class SyncStatus(models.TextChoices):
    NEVER = "never", "Never synced"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    UNCHANGED = "unchanged", "No changes"
    WARNING = "warning", "Succeeded with warnings"
    FAILED = "failed", "Failed"


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "GitHub webhook"
    MANUAL = "manual", "Sync now"
    COMMAND = "command", "Command"


class GitRepositoryQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(team_id__in=permissions.team_ids_now(user, action))


class GitRepository(models.Model):
    """A model repository the workers read: its URL, branch, owning team and how far the sync has come.

    Credentials are a granted credential (accounts.GrantedCredential), never a reference a team admin typed; the
    worker resolves it only for the hosts it allows. The webhook secret is stored encrypted (it must be read back
    to check GitHub's HMAC) and shown once.
    """

    name = models.CharField(max_length=120, unique=True)
    url = models.CharField("URL", max_length=500, help_text="https://, ssh://, git@host:path, file:// or a local path.")
    branch = models.CharField(max_length=255, default="main")
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="repositories")
    credential = models.ForeignKey(
        "accounts.GrantedCredential", null=True, blank=True, on_delete=models.PROTECT, related_name="repositories",
        help_text="A credential a portal admin granted to the team; empty for public repositories and SSH keys.",
    )  # fmt: skip
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    github_full_name = models.CharField(max_length=200, blank=True, db_index=True, editable=False)
    default_risk_tier = models.CharField(
        max_length=10, choices=RiskTier.choices, default=RiskTier.HIGH,
        help_text="Risk tier for models found only through GTO tags (govportal.yaml names its own).",
    )  # fmt: skip
    enabled = models.BooleanField(default=True)
    last_synced_commit = models.CharField(max_length=64, blank=True)
    last_tags_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    last_sync_status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.NEVER)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Set when a sync is queued and cleared when a worker starts it: a second request meanwhile is coalesced.
    sync_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The lease that keeps one sync per repository where PostgreSQL advisory locks are not available.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GitRepositoryQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "Git repositories"
        constraints = [models.UniqueConstraint(fields=["url", "branch"], name="unique_repository_branch")]

    def __str__(self):
        return self.name

    @property
    def permission_team_id(self):
        return self.team_id

    def audit_scope(self) -> dict:
        return {"team": self.team_id}

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_encrypted)


class SyncRunQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(repository__team_id__in=permissions.team_ids_with(user, action))


class SyncRun(models.Model):
    """One attempt to bring the inventory in line with a repository: what it saw, did and could not do."""

    repository = models.ForeignKey(GitRepository, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    head_before = models.CharField(max_length=64, blank=True)
    head_after = models.CharField(max_length=64, blank=True)
    commits_read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["repository", "-started_at"], name="syncrun_repo_started")]

    def __str__(self):
        return f"{self.repository} sync #{self.pk}"

    @property
    def permission_team_id(self):
        return self.repository.team_id

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None


class KnownTag(models.Model):
    """The commit each tag pointed at when last synced: how a moved release tag is noticed."""

    repository = models.ForeignKey(GitRepository, on_delete=models.CASCADE, related_name="known_tags")
    name = models.CharField(max_length=255)
    target_sha = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="unique_known_tag")]

    def __str__(self):
        return f"{self.name} → {self.target_sha[:10]}"
