from http import HTTPStatus

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core import request_context

from . import services
from .exceptions import DeliveryTooLarge, WebhookError
from .models import Outcome

_STATUS = {Outcome.OK: 200, services.DUPLICATE: 200}  # everything else was accepted for later: 202


def _problem(exc: WebhookError) -> JsonResponse:
    body = {"type": "about:blank", "title": HTTPStatus(exc.status).phrase, "status": exc.status}
    body.update({"code": exc.code, "detail": exc.message})
    response = JsonResponse(body, status=exc.status, content_type="application/problem+json")
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _read_body(request) -> bytes:
    # Read the stream rather than request.body: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) is below GitHub's cap.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > services.MAX_BODY_BYTES:
        raise DeliveryTooLarge("The body is larger than GitHub's 25 MB limit.")
    body = request.read(services.MAX_BODY_BYTES + 1)
    if len(body) > services.MAX_BODY_BYTES:
        raise DeliveryTooLarge("The body is larger than GitHub's 25 MB limit.")
    return body


@csrf_exempt  # GitHub cannot send a CSRF token; the HMAC signature stands in for it
@require_POST
def github(request):
    """Receive a GitHub webhook delivery.

    No login and no `accounts.permissions` check: the caller is GitHub, and the X-Hub-Signature-256 HMAC
    over the raw body, made with the repository's own webhook secret, is the authentication. Neither the
    body nor the signature is ever logged.
    """
    with request_context.bind(source="webhook"):
        try:
            receipt = services.github_delivery_receive(
                event=request.headers.get("X-GitHub-Event"),
                delivery_id=request.headers.get("X-GitHub-Delivery"),
                signature=request.headers.get("X-Hub-Signature-256"),
                body=_read_body(request),
                client_ip=request_context.client_ip(request.META),
            )
        except WebhookError as exc:
            return _problem(exc)
    body = {"status": str(receipt.outcome), "detail": receipt.detail, "repositories": list(receipt.repositories)}
    return JsonResponse(body, status=_STATUS.get(receipt.outcome, 202))
