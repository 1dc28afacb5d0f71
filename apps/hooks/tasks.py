"""Answering GitHub's deployment protection rules. Thin: load by id, call the service, retry what may pass."""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from .exceptions import CallbackUnavailable

MAX_RETRIES = 10  # about 5 hours of backoff; the beat sweep keeps trying after that while the run waits


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, soft_time_limit=120, time_limit=150)
def github_gate_answer_task(self, gate_id: int) -> str:
    """Send one waiting run its answer; does nothing once the gate is answered (safe to run twice)."""
    from .protection import github_gate_answer

    try:
        return github_gate_answer(gate_id=gate_id)
    except CallbackUnavailable as exc:
        if self.request.is_eager:  # in-process (no broker): nothing can wait for a retry; the sweep tries again
            return "retry later"
        countdown = get_exponential_backoff_interval(30, self.request.retries, maximum=3600, full_jitter=True)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(acks_late=True)
def github_gates_answer_due_task() -> int:
    """The beat sweep: one answer task per gate that has an answer GitHub has not taken yet."""
    from .protection import gates_due

    due = gates_due()
    for gate_id in due:
        github_gate_answer_task.delay(gate_id)
    return len(due)
