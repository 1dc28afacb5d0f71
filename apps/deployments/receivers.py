"""What deployments does when approvals approve a request: re-judge drift for that model and environment."""

from django.db import transaction


def on_request_approved(sender, request, **kwargs):
    from .tasks import drift_refresh_task

    model_id, environment_id = request.version.model_id, request.environment_id
    transaction.on_commit(lambda: drift_refresh_task.delay(model_id, environment_id))
