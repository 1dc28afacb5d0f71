"""Deployment checks of our own, run by `manage.py check --deploy` beside Django's."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def shared_cache_configured(app_configs, **kwargs):
    """Without CACHE_URL every process keeps its own counters: N gunicorn workers give N sign-in and API budgets."""
    if settings.CACHE_URL:
        return []
    return [
        checks.Warning(
            "CACHE_URL is not set: each process counts sign-in failures, API requests and rejected webhooks in its own "
            "memory, so with several processes every limit is multiplied by their number.",
            hint="Set CACHE_URL=redis://HOST:6379/N, shared by every web process (see the README's Security section).",
            id="govportal.W001",
        )
    ]
