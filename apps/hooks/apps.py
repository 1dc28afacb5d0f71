from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "apps.hooks"
    label = "hooks"
    verbose_name = "Webhooks"

    def ready(self):
        from . import receivers  # noqa: F401 — connects to approvals' and inventory's signals
