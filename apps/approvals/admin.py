from django.contrib import admin

from apps.core.admin_mixins import GovernedReadOnlyAdmin

from .models import ApprovalPolicy, Decision, DeploymentRequest, PolicyStep, RequestStep


class PolicyStepInline(admin.TabularInline):
    model = PolicyStep
    extra = 0
    can_delete = False
    readonly_fields = ("order", "name", "approver_kind", "role", "team", "quorum", "requires_signature", "due_hours")


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(GovernedReadOnlyAdmin):
    """Policies are edited on /approvals/policies/, where each change is validated and audited."""

    list_display = ("name", "environment", "risk_tiers", "active", "revision", "updated_at")
    inlines = [PolicyStepInline]


@admin.register(DeploymentRequest)
class DeploymentRequestAdmin(GovernedReadOnlyAdmin):
    list_display = ("pk", "version", "environment", "requester", "state", "submitted_at", "closed_at")
    list_filter = ("state", "environment")


@admin.register(RequestStep)
class RequestStepAdmin(GovernedReadOnlyAdmin):
    list_display = ("request", "round", "order", "name", "state", "quorum", "due_at")


@admin.register(Decision)
class DecisionAdmin(GovernedReadOnlyAdmin):
    list_display = ("request", "step", "printed_name", "outcome", "meaning", "decided_at", "signed")
