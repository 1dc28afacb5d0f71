from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """What auditors use, built on the audit kernel: the trail's pages and API, exports, reports, model dossiers."""

    name = "apps.compliance"
    label = "compliance"
    verbose_name = "Compliance"
