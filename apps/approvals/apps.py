from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"
    label = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        from apps.audit import links

        from . import links as approval_links
        from . import receivers  # noqa: F401 — connects to inventory's signals

        links.register("approvals.deploymentrequest", approval_links.request_urls)
        links.register("approvals.approvalpolicy", approval_links.policy_urls)
