from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self):
        # core.querysets.restrict() asks here who reads nothing and who reads everything (see its docstring).
        from apps.audit.models import READABLE_TEAMS, READS_SECURITY_EVENTS
        from apps.core.querysets import set_gate, set_rule

        from . import permissions

        set_gate(permissions.read_scope)
        # What audit asks about a reader (apps/audit/models.py): audit sits below accounts and cannot import it.
        set_rule(READABLE_TEAMS, lambda user: permissions.team_ids_with(user, permissions.VIEW_AUDIT))
        set_rule(READS_SECURITY_EVENTS, permissions.may_read_security_events)
