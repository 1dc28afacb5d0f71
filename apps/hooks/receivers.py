import logging

from django.dispatch import receiver

from apps.approvals.signals import request_closed
from apps.inventory.signals import version_artifact_changed

logger = logging.getLogger(__name__)


@receiver(request_closed, dispatch_uid="hooks-answer-github-gates")
def answer_github_gates(sender, *, request, **kwargs):
    """A request closed (this runs after its commit): the GitHub runs waiting on it get their answer."""
    from .protection import gates_waiting_on
    from .tasks import github_gate_answer_task

    for gate_id in gates_waiting_on(request.pk):
        try:
            github_gate_answer_task.delay(gate_id)
        except Exception:  # the decision is committed: failing its page helps nobody; the beat sweep answers later
            logger.exception("Could not queue the answer of GitHub deployment gate %s", gate_id)


@receiver(version_artifact_changed, dispatch_uid="hooks-withdraw-github-requests-on-artifact-change")
def withdraw_github_requests(sender, *, version, **kwargs):
    """In the changing transaction: requests opened for GitHub runs are withdrawn, so the runs are answered."""
    from .protection import github_requests_withdraw_for_version_change

    github_requests_withdraw_for_version_change(version=version)
