from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.querysets import RestrictedQuerySet


class User(AbstractUser):
    """A person who signs in (their full name is what an e-signature prints), or a service account.

    A service account is the identity a CI pipeline acts as: a member of one team, with an unusable password
    (it never signs in to the pages), acting only through its API tokens' scopes.
    """

    is_service_account = models.BooleanField(default=False)
    is_portal_auditor = models.BooleanField(
        "portal auditor",
        default=False,
        help_text="Reads the portal-wide security events (sign-ins, failed signatures, rejected webhooks) of "
        "every team. Team roles still decide everything else.",
    )

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    def clean(self):
        super().clean()
        if self.is_service_account and self.is_portal_auditor:
            raise ValidationError(
                {"is_portal_auditor": "A service account acts for one team, not as a portal auditor."}
            )

    def audit_scope(self) -> dict:
        # A service account belongs to the team it was made for (its first membership): events about it are that
        # team's. A person's account is portal-wide.
        if not self.is_service_account or self.pk is None:
            return {}
        membership = self.memberships.order_by("pk").first()
        return {"team": membership.team_id} if membership else {}


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    CONTRIBUTOR = "contributor", "Contributor"
    APPROVER = "approver", "Approver"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"


class TeamQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        from . import permissions

        return self.filter(pk__in=permissions.team_ids_with(user, action))


class Team(models.Model):
    """A group of people who own models; roles are held per team."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def audit_scope(self) -> dict:
        return {"team": self.pk}


class Membership(models.Model):
    """One role a user holds in a team; a person may hold several roles in the same team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["team__name", "user__username", "role"]
        constraints = [models.UniqueConstraint(fields=["team", "user", "role"], name="unique_team_user_role")]

    def __str__(self):
        return f"{self.user.username} as {self.get_role_display().lower()} of {self.team.name}"

    def audit_scope(self) -> dict:
        return {"team": self.team_id}


class TokenScope(models.TextChoices):
    READ = "read", "read: models, versions, environments, requests, repositories and the team's audit trail"
    REGISTER = "register", "register: register models and versions, update their metadata, trigger syncs"
    REQUEST_DEPLOY = "request-deploy", "request-deploy: create, submit and cancel deployment requests"
    REPORT_DEPLOYMENT = "report-deployment", "report-deployment: report that an approved version was deployed"


class ServiceToken(models.Model):
    """An API token of a service account: scoped, expiring, revocable; only a hash of its secret is kept.

    The full token reads `gpt_<prefix>_<secret>`; the prefix identifies it in lists and in the audit trail.
    """

    account = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.account.username} token {self.prefix} ({self.name})"

    @property
    def permission_team_id(self):
        membership = self.account.memberships.order_by("pk").first()  # the team it was created for
        return membership.team_id if membership else None

    def audit_scope(self) -> dict:
        return {"team": self.permission_team_id}

    def is_usable(self, now) -> bool:
        return self.revoked_at is None and self.expires_at > now


class GrantedCredential(models.Model):
    """A secret the workers may use for some teams, defined by a portal admin: where it lives, where it may go.

    The secret itself is never stored: `reference` names where the worker reads it (env:NAME or file:/path).
    Team admins only pick a credential granted to their team; the worker hands it to Git (or a deployment
    target) only over https/ssh to one of `allowed_hosts`, so no team can aim a server secret at a host of theirs.
    """

    name = models.CharField(max_length=100, unique=True)
    reference = models.CharField(
        max_length=300, help_text="Where the worker reads the secret: env:VARIABLE_NAME or file:/absolute/path."
    )
    username = models.CharField(
        max_length=100, blank=True, help_text="User name sent with the secret over https (default x-access-token)."
    )
    allowed_hosts = models.JSONField(
        default=list, blank=True, help_text="Host names (host or host:port) the secret may be sent to."
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="credentials")
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
