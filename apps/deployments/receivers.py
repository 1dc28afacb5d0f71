"""What deployments does when approvals approve or close a request."""

from django.db import transaction


def on_request_approved(sender, request, **kwargs):
    """In the approving transaction: the rollouts (exactly once per target), the break-glass records it settles,
    and, once committed, drift judged again for that model and environment."""
    from . import breakglass, rollouts
    from .tasks import drift_refresh_task

    rollouts.rollouts_create(request=request)
    breakglass.post_hoc_settled(request)
    model_id, environment_id = request.version.model_id, request.environment_id
    transaction.on_commit(lambda: drift_refresh_task.delay(model_id, environment_id))


def on_request_closed(sender, request, state, **kwargs):
    """After a request ended otherwise (rejected, cancelled, expired): an open break-glass record says so."""
    from . import breakglass

    if state != "approved":
        breakglass.post_hoc_settled(request)
