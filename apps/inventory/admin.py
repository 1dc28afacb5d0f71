from django.contrib import admin

from apps.core.admin_mixins import GovernedReadOnlyAdmin

from .models import ModelVersion, RegisteredModel, Tag


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
