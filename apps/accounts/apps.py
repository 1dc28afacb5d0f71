from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self):
        # core.querysets.restrict() asks here who reads nothing and who reads everything (see its docstring).
        from apps.core.querysets import set_gate

        from .permissions import read_scope

        set_gate(read_scope)
