from django.db import models
from django.utils import timezone

from apps.accounts import permissions
from apps.core.querysets import RestrictedQuerySet


class Outcome(models.TextChoices):
    QUEUED = "queued", "Sync queued"
    COALESCED = "coalesced", "Joined a sync already queued"
    IGNORED = "ignored", "Ignored"
    REJECTED = "rejected", "Rejected"  # a handler refused a signed delivery (no handler does yet)
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
