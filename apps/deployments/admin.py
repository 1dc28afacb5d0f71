import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.admin import PortalAdminOnly
from apps.audit.actors import Actor
from apps.core.forms import apply_errors

from . import services
from .models import DeploymentTarget


class ConfigField(forms.JSONField):
    """The kind's settings as JSON; a typo is named with its line and column rather than "Enter a valid JSON"."""

    def to_python(self, value):
        if self.disabled or value in self.empty_values:
            return super().to_python(value)
        try:
            return json.loads(value, cls=self.decoder)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "This is not valid JSON: %(problem)s at line %(line)s, column %(column)s. Write an object such as "
                '{"url": "https://github.com/acme/deploy.git", "paths": ["prod/**/*.yaml"]}.',
                code="invalid", params={"problem": exc.msg, "line": exc.lineno, "column": exc.colno},
            ) from None  # fmt: skip


class DeploymentTargetForm(forms.ModelForm):
    """The admin's form: it checks types and choices; the service's rules (the kind's settings, the credential's
    grant and hosts) are checked when it saves, and shown here on the field they concern."""

    config = ConfigField(
        initial=dict, required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "vLargeTextField"}),
        help_text="The kind's settings as a JSON object; never a secret (pick a granted credential instead).",
    )  # fmt: skip

    class Meta:
        model = DeploymentTarget
        fields = services.TARGET_FIELDS

    def _post_clean(self):
        """The service's checks instead of the model's own: the same rules the save applies, shown on the fields
        (the save itself goes through services.target_save, which checks them again under its lock)."""
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        if self.errors:
            return
        try:
            services.target_check(self.instance)  # the service's own check, without its write
        except ValidationError as exc:
            apply_errors(self, exc)


@admin.register(DeploymentTarget)
class DeploymentTargetAdmin(PortalAdminOnly, admin.ModelAdmin):
    """Portal admins define targets here; each save goes through the audited service. Targets are never deleted
    (their observation history is evidence): disable one instead."""

    form = DeploymentTargetForm
    list_display = ("name", "kind", "environment", "team", "credential", "enabled", "last_status", "last_observed_at",
                    "portal")  # fmt: skip
    list_filter = ("kind", "environment", "team", "enabled", "last_status")
    list_select_related = ("environment", "team", "credential")
    search_fields = ("name",)
    readonly_fields = ("last_status", "last_error", "last_observed_at", "created_at", "updated_at")

    @admin.display(description="In the portal")
    def portal(self, obj):
        return format_html('<a href="{}">Open</a>', reverse("deployments:target-detail", args=[obj.pk]))

    def view_on_site(self, obj):
        return reverse("deployments:target-detail", args=[obj.pk])

    def save_model(self, request, obj, form, change):
        fields = {field: form.cleaned_data[field] for field in services.TARGET_FIELDS}
        saved = services.target_save(actor=Actor.of(request.user), target=obj if change else None, **fields)
        obj.pk = saved.pk
