from django.contrib.auth.models import AbstractUser
from django.db import models

from apps.core.querysets import RestrictedQuerySet


class User(AbstractUser):
    """A person who signs in. Their full name is what an e-signature prints."""

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


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
