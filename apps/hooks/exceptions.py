from apps.core.exceptions import DomainError


class WebhookError(DomainError):
    """A delivery the endpoint refuses; `status` is the HTTP answer GitHub gets."""

    code = "bad_delivery"
    status = 400


class DeliveryTooLarge(WebhookError):
    code = "payload_too_large"
    status = 413


class SignatureRejected(WebhookError):
    """No signature, or none that a repository's webhook secret produces. Audited as `webhook.rejected`."""

    code = "signature_rejected"
    status = 401


class RejectionsThrottled(WebhookError):
    """Too many unauthenticated deliveries from one client address this minute; `retry_after` is in seconds."""

    code = "throttled"
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class CallbackUrlRefused(ValueError):
    """A deployment_callback_url the portal will not call: not under GITHUB_API_URL, or not this repository's run."""


class CallbackUnavailable(Exception):
    """GitHub could not take the answer now (network, 5xx, rate limit, token): the task tries again later."""


class CallbackRefused(Exception):
    """GitHub refused the answer for good (e.g. 422: the run no longer waits); the gate is marked failed."""
