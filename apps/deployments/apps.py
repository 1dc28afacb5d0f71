from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Deployment targets, what runs on them (observed by workers), and drift from what was approved."""

    name = "apps.deployments"
    label = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from apps.approvals.signals import request_approved

        from . import receivers

        request_approved.connect(receivers.on_request_approved, dispatch_uid="deployments-drift-on-approval")
