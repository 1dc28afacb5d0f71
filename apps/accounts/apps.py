from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save

from apps.core import request_context


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self):
        # core.querysets.restrict() asks here who reads nothing and who reads everything (see its docstring).
        from apps.audit.models import READABLE_TEAMS, READS_SECURITY_EVENTS
        from apps.core.querysets import set_gate, set_rule

        from . import permissions
        from .models import Membership

        set_gate(permissions.read_scope)
        # What audit asks about a reader (apps/audit/models.py): audit sits below accounts and cannot import it.
        set_rule(READABLE_TEAMS, permissions.audit_readable_teams)
        set_rule(READS_SECURITY_EVENTS, permissions.may_read_security_events)
        # permissions keeps a user's roles for the rest of a web request: a role granted or revoked in it drops them.
        post_save.connect(_roles_changed, sender=Membership, dispatch_uid="accounts.roles_changed.save")
        post_delete.connect(_roles_changed, sender=Membership, dispatch_uid="accounts.roles_changed.delete")
        # restrict() names object permissions by id, kept per process: migrate and flush make them afresh.
        post_migrate.connect(permissions.forget_permission_ids, dispatch_uid="accounts.forget_permission_ids")


def _roles_changed(**_kwargs):
    request_context.forget()
