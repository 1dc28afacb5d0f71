from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Deployment targets, what runs on them (observed by workers), and drift from what was approved."""

    name = "apps.deployments"
    label = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from apps.approvals.signals import request_approved, request_closed
        from apps.audit import links

        from . import links as deployment_links
        from . import receivers

        links.register("deployments.deploymenttarget", deployment_links.target_urls)

        request_approved.connect(receivers.on_request_approved, dispatch_uid="deployments-on-approval")
        request_closed.connect(receivers.on_request_closed, dispatch_uid="deployments-on-close")
