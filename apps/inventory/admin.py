from django.contrib import admin

from apps.audit.actors import Actor
from apps.core.admin_mixins import GovernedReadOnlyAdmin

from . import services
from .models import Environment, ModelVersion, RegisteredModel, Tag


@admin.register(RegisteredModel)
class RegisteredModelAdmin(GovernedReadOnlyAdmin):
    list_display = ("name", "team", "risk_tier", "lifecycle_status", "next_validation_due", "updated_at")
    list_filter = ("risk_tier", "lifecycle_status", "team")
    search_fields = ("name", "description")


@admin.register(ModelVersion)
class ModelVersionAdmin(GovernedReadOnlyAdmin):
    list_display = ("model", "version", "source", "artifact_digest", "created_at")
    list_filter = ("source",)
    search_fields = ("model__name", "version", "git_commit_sha")


@admin.register(Tag)
class TagAdmin(GovernedReadOnlyAdmin):
    list_display = ("name",)


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    """Environments are edited here; each save goes through the audited service."""

    list_display = ("name", "slug", "order", "protected")

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.ENVIRONMENT_FIELDS}
        if not change:
            fields = {
                name: form.cleaned_data[name] for name in services.ENVIRONMENT_FIELDS if name in form.cleaned_data
            }
            obj = None
        services.environment_save(actor=Actor.of(request.user), environment=obj, **fields)

    def has_delete_permission(self, request, obj=None):
        return False  # requests refer to environments for ever
