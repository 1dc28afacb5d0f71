from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.core.admin_mixins import GovernedReadOnlyAdmin

from . import git
from .models import GitRepository, SyncRun


@admin.register(GitRepository)
class GitRepositoryAdmin(GovernedReadOnlyAdmin):
    """Repositories are added and edited in the portal, where the service checks and audits each change."""

    list_display = ("name", "team", "redacted_url", "branch", "last_sync_status", "last_synced_at", "enabled", "portal")
    list_filter = ("last_sync_status", "enabled", "team")
    list_select_related = ("team",)
    search_fields = ("name", "url", "github_full_name")
    # The encrypted webhook secret is not editable, so never shown; the URL is shown redacted.
    fields = (
        "name", "redacted_url", "branch", "team", "credential", "github_full_name", "default_risk_tier", "enabled",
        "last_synced_commit", "last_sync_status", "last_synced_at", "sync_queued_at", "created_by", "created_at",
        "updated_at", "portal",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="URL")
    def redacted_url(self, obj):
        return git.redact(obj.url)

    @admin.display(description="In the portal")
    def portal(self, obj):
        return format_html('<a href="{}">Open in the portal</a>', reverse("gitsync:repository-detail", args=[obj.pk]))

    def view_on_site(self, obj):
        return reverse("gitsync:repository-detail", args=[obj.pk])


@admin.register(SyncRun)
class SyncRunAdmin(GovernedReadOnlyAdmin):
    """Sync runs are written by the workers only."""

    list_display = (
        "repository",
        "started_at",
        "finished_at",
        "trigger",
        "status",
        "commits_read",
        "created",
        "updated",
    )
    list_filter = ("status", "trigger")
    search_fields = ("repository__name", "requested_by", "head_after")
    list_select_related = ("repository",)
    date_hierarchy = "started_at"
