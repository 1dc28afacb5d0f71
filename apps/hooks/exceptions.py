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
