from django.contrib import admin

from apps.core.admin_mixins import GovernedReadOnlyAdmin

from .models import GitHubDeploymentGate, WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(GovernedReadOnlyAdmin):
    list_display = ("received_at", "event", "full_name", "repository", "outcome", "delivery_id")
    list_filter = ("outcome", "event")
    search_fields = ("delivery_id", "full_name", "repository__name")
    list_select_related = ("repository",)
    date_hierarchy = "received_at"


@admin.register(GitHubDeploymentGate)
class GitHubDeploymentGateAdmin(GovernedReadOnlyAdmin):
    list_display = ("created_at", "repository", "run_id", "environment", "sha", "request", "state", "answered_state")
    list_filter = ("state", "answered_state")
    search_fields = ("run_id", "sha", "environment", "repository__name")
    list_select_related = ("repository", "request")
    date_hierarchy = "created_at"
