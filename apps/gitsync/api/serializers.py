"""Repositories over the API. The webhook secret (encrypted or plain) never leaves the server; of the credential
only the name a portal admin gave it is shown (where the worker reads it is for portal admins)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api import StrictInput, page_url

from .. import git
from ..models import GitRepository, SyncRun

RECENT_RUNS = 5


class SyncRunOutput(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id", "trigger", "requested_by", "status", "started_at", "finished_at", "head_before", "head_after",
            "commits_read", "created", "updated", "unchanged", "warnings", "errors",
        ]  # fmt: skip
        read_only_fields = fields


class GitRepositoryOutput(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    credential = serializers.SlugRelatedField(
        slug_field="name", read_only=True, help_text="The granted credential the worker fetches with, if any."
    )
    url = serializers.SerializerMethodField(help_text="The Git URL (any user-info redacted).")
    has_webhook_secret = serializers.BooleanField(read_only=True)
    sync_queued = serializers.SerializerMethodField(help_text="A sync is waiting for a worker.")
    page_url = serializers.SerializerMethodField(help_text="The repository's page in the portal.")

    class Meta:
        model = GitRepository
        fields = [
            "id", "name", "url", "branch", "team", "credential", "has_webhook_secret", "github_full_name",
            "default_risk_tier", "enabled", "last_synced_commit", "last_sync_status", "last_synced_at",
            "sync_queued", "created_at", "updated_at", "page_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, repository) -> str:
        return git.redact(repository.url)

    def get_sync_queued(self, repository) -> bool:
        return repository.sync_queued_at is not None

    def get_page_url(self, repository) -> str:
        return page_url(reverse("gitsync:repository-detail", args=[repository.pk]))


class GitRepositoryDetailOutput(GitRepositoryOutput):
    recent_runs = serializers.SerializerMethodField(help_text=f"The latest {RECENT_RUNS} sync runs, newest first.")

    class Meta(GitRepositoryOutput.Meta):
        fields = [*GitRepositoryOutput.Meta.fields, "recent_runs"]
        read_only_fields = fields

    @extend_schema_field(SyncRunOutput(many=True))
    def get_recent_runs(self, repository):
        return SyncRunOutput(repository.runs.order_by("-started_at", "-pk")[:RECENT_RUNS], many=True).data


class SyncInput(StrictInput):
    """No fields: a sync request carries nothing but the URL (an empty body, or {})."""


class SyncRequestedOutput(serializers.Serializer):
    queued = serializers.BooleanField(help_text="False when a sync was already waiting and this request joined it.")
    detail = serializers.CharField()
