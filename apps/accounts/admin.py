from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.decorators import method_decorator

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record
from apps.core.admin_mixins import GovernedReadOnlyAdmin

from . import credentials, permissions, services
from .models import GrantedCredential, Membership, Team, User


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "team"
    extra = 0
    readonly_fields = ("user", "role", "granted_at", "granted_by")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users are edited here; each save goes through the audited service."""

    actions = ["unlock_sign_in"]

    @admin.action(description="Unlock sign-in (forget failed attempts)")
    def unlock_sign_in(self, request, queryset):
        """Lift sign-in lockouts now rather than at the end of LOGIN_LOCKOUT_SECONDS; each one audited.

        The service refuses anyone but a portal admin (PermissionDenied: a 403 page, nothing unlocked).
        """
        actor = Actor.of(request.user)
        unlocked = [user.username for user in queryset if services.user_unlock(actor=actor, user=user)]
        if unlocked:
            self.message_user(request, f"Unlocked sign-in for {', '.join(unlocked)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of them was locked out or had failed sign-ins.", messages.INFO)

    # Superusers make a person a portal auditor here: the service records it in `user.updated`.
    fieldsets = (*BaseUserAdmin.fieldsets, ("Audit trail", {"fields": ("is_portal_auditor",)}))
    list_display = (*BaseUserAdmin.list_display, "is_portal_auditor")
    list_filter = (*BaseUserAdmin.list_filter, "is_portal_auditor")

    def save_model(self, request, obj, form, change):
        services.user_save_from_admin(
            actor=Actor.of(request.user), user=obj, password_changed=not change and "password1" in form.changed_data
        )

    def delete_model(self, request, obj):
        # Deactivate rather than delete: audit events and decisions keep pointing at the person.
        obj.is_active = False
        services.user_save_from_admin(actor=Actor.of(request.user), user=obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            self.delete_model(request, user)

    @method_decorator(transaction.atomic)
    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = User.objects.get(pk=id)
            record(
                action=Action.USER_UPDATED,
                actor=Actor.of(request.user),
                target=user,
                changes={"password": ["(set)", "(changed by an administrator)"]},
            )
        return response


@admin.register(Team)
class TeamAdmin(GovernedReadOnlyAdmin):
    list_display = ("name", "slug", "created_at")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(GovernedReadOnlyAdmin):
    list_display = ("team", "user", "role", "granted_at", "granted_by")
    list_filter = ("role", "team")


class GrantedCredentialForm(forms.ModelForm):
    """Hosts as one per line; the rules (reference form, host names) are the service's."""

    allowed_hosts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One host per line (host or host:port), e.g. github.com. The secret is sent to no other host.",
    )

    class Meta:
        model = GrantedCredential
        fields = ("name", "reference", "username", "allowed_hosts", "teams", "enabled", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["allowed_hosts"] = "\n".join(self.instance.allowed_hosts)

    def clean_allowed_hosts(self):
        try:
            return credentials.check_hosts(self.cleaned_data["allowed_hosts"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["allowed_hosts"]) from None

    def clean_reference(self):
        try:
            return credentials.check_reference(self.cleaned_data["reference"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["reference"]) from None


class PortalAdminOnly:
    """For admin pages of portal-wide configuration (credentials, deployment targets): portal admins only, and
    nothing is deleted (rows other records point at are disabled instead)."""

    def has_module_permission(self, request):
        return permissions.is_portal_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return permissions.is_portal_admin(request.user)

    def has_add_permission(self, request):
        return permissions.is_portal_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return permissions.is_portal_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GrantedCredential)
class GrantedCredentialAdmin(PortalAdminOnly, admin.ModelAdmin):
    """Portal admins define credentials here; each save goes through the audited service. They are never deleted
    (repositories and targets keep pointing at them): disable one instead."""

    form = GrantedCredentialForm
    list_display = ("name", "reference", "hosts", "team_names", "enabled", "updated_at")
    list_filter = ("enabled", "teams")
    filter_horizontal = ("teams",)

    @admin.display(description="hosts")
    def hosts(self, obj):
        return ", ".join(obj.allowed_hosts)

    @admin.display(description="teams")
    def team_names(self, obj):
        return ", ".join(team.name for team in obj.teams.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams")

    def save_model(self, request, obj, form, change):
        fields = {field: form.cleaned_data[field] for field in services.CREDENTIAL_FIELDS}
        saved = services.credential_save(
            actor=Actor.of(request.user), credential=obj if change else None, teams=form.cleaned_data["teams"],
            **fields,
        )  # fmt: skip
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """The service has set the teams (audited with the rest); the admin must not write them again."""
