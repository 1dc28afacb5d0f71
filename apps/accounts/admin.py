from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.utils.decorators import method_decorator

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record
from apps.core.admin_mixins import GovernedReadOnlyAdmin

from . import services
from .models import Membership, Team, User


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
