"""Approval notifications and the expiry sweep. Thin: load by id, return quietly if gone, call a service."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail
from django.urls import reverse


def _absolute(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


@shared_task(acks_late=True)
def notify_step_opened_task(step_id: int) -> int:
    """E-mail everyone eligible for a newly opened step (the requester is never asked)."""
    from .eligibility import eligible_user_ids, step_rule
    from .models import RequestStep, StepState

    step = RequestStep.objects.select_related("request__version__model", "request__environment", "team").filter(
        pk=step_id).first()  # fmt: skip
    if step is None or step.state != StepState.OPEN:
        return 0
    request = step.request
    from django.contrib.auth import get_user_model

    ids = eligible_user_ids(step_rule(step), request.version.model.team_id) - {request.requester_id}
    recipients = [user.email for user in get_user_model().objects.filter(pk__in=ids, is_active=True) if user.email]
    url = _absolute(reverse("approvals:request-detail", args=[request.pk]))
    subject = (
        f"[GovPortal] Approval needed: {request.subject.get('model')} {request.subject.get('version')} → "
        f"{request.subject.get('environment')}"
    )
    body = (f"{request.requester.get_full_name() or request.requester.username} asks to deploy "
            f"{request.subject.get('model')} {request.subject.get('version')} to {request.subject.get('environment')}."
            f"\n\nStep {step.order}: {step.name} (needs {step.quorum}), due {step.due_at:%Y-%m-%d %H:%M} UTC.\n\n"
            f"Justification:\n{request.justification}\n\nReview and decide: {url}\n")  # fmt: skip
    return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in recipients])


@shared_task(acks_late=True)
def notify_request_closed_task(request_id: int) -> int:
    """Tell the requester the outcome: approved, rejected, cancelled or expired."""
    from .models import DeploymentRequest

    request = DeploymentRequest.objects.select_related("requester").filter(pk=request_id).first()
    if request is None or request.is_open() or not request.requester.email:
        return 0
    url = _absolute(reverse("approvals:request-detail", args=[request.pk]))
    subject = f"[GovPortal] Request #{request.pk} {request.get_state_display().lower()}"
    body = (
        f"Your request to deploy {request.subject.get('model')} {request.subject.get('version')} to "
        f"{request.subject.get('environment')} is {request.get_state_display().lower()}.\n\nDetails: {url}\n"
    )
    return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [request.requester.email])])


@shared_task(acks_late=True)
def deployment_request_expire_due_task() -> int:
    from .services import deployment_request_expire_due

    return deployment_request_expire_due()
