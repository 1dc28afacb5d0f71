"""GitHub deliveries: authenticate by the repository's HMAC, de-duplicate, and hand each event to its handler."""

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import Target, record
from apps.gitsync import services as gitsync
from apps.gitsync.models import GitRepository, Trigger

from . import protection, rejections
from .exceptions import RejectionsThrottled, SignatureRejected, WebhookError
from .models import Outcome, WebhookDelivery
from .receipts import DUPLICATE, Receipt

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
_EVENT = re.compile(r"^[a-z0-9_]{1,64}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_RECORDED = "the first rejection from this address this minute; later ones are counted and logged, not recorded"

logger = logging.getLogger(__name__)


def _actor() -> Actor:
    return Actor.system("github-webhook")


# --- handlers: one per event, (payload, authenticated repository) -> Receipt ----------------------------------------


def _ping(payload: dict, repository: GitRepository) -> Receipt:
    return Receipt(Outcome.OK, f"Webhook for {repository.name} is set up.", (repository.name,))


def _push(payload: dict, repository: GitRepository) -> Receipt:
    """A push to the repository's branch, or any tag push (release and GTO tags), queues a sync."""
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref:
        return Receipt(Outcome.IGNORED, "The push names no ref.")
    if not (ref.startswith("refs/tags/") or ref == f"refs/heads/{repository.branch}"):
        return Receipt(Outcome.IGNORED, f"{repository.name} follows {repository.branch}; {ref[:200]} is ignored.")
    try:
        queued = gitsync.repository_request_sync(actor=_actor(), repository=repository, trigger=Trigger.WEBHOOK)
    except ValidationError as exc:  # disabled: GitHub has nothing to fix, so no error
        return Receipt(Outcome.IGNORED, " ".join(exc.messages))
    if queued:
        return Receipt(Outcome.QUEUED, f"Sync of {repository.name} queued.", (repository.name,))
    return Receipt(Outcome.COALESCED, f"A sync of {repository.name} is queued already.", (repository.name,))


HANDLERS: dict[str, Callable[[dict, GitRepository], Receipt]] = {
    "ping": _ping,
    "push": _push,
    "deployment_protection_rule": protection.deployment_protection_rule_receive,  # from a GitHub App
}


# --- receiving ------------------------------------------------------------------------------------------------------


def _parse(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        if body.startswith(b"payload="):
            raise WebhookError("The body is form-encoded: set the webhook's content type to application/json.") from exc
        raise WebhookError("The body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookError("The body must be a JSON object.")
    return payload


def _full_name(payload: dict) -> str:
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    return full_name if isinstance(full_name, str) else ""


def _signature_matches(body: bytes, signature: bytes, repository: GitRepository) -> bool:
    secret = gitsync.webhook_secret(repository)
    if not secret:
        return False
    expected = b"sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, signature)


def _reject(
    reason: str, *, event: str, delivery_id: str, full_name: str, candidates: list, client_ip: str | None
) -> NoReturn:
    """Count the rejection; record `webhook.rejected` if it is the address's first this minute (committed, though
    the delivery is refused); raise the 401, or the 429 once the address is past its limit for the minute."""
    tally = rejections.count(client_ip)
    logger.log(
        logging.WARNING if tally.record or tally.count == settings.WEBHOOK_REJECTION_LIMIT + 1 else logging.INFO,
        "Rejected GitHub %s delivery %s for %r from %s: %s (%d from this address this minute)",
        event, delivery_id, full_name[:200], tally.client_ip, reason, tally.count,
    )  # fmt: skip
    if tally.record:
        teams = {repository.team_id for repository in candidates}
        scope = {"team": teams.pop()} if len(teams) == 1 else {}
        try:
            with transaction.atomic():
                record(
                    action=Action.WEBHOOK_REJECTED,
                    actor=_actor(),
                    target=Target("hooks.delivery", delivery_id, f"GitHub {event} delivery {delivery_id}", scope=scope),
                    changes={
                        "reason": [None, reason],
                        "event": [None, event],
                        "delivery": [None, delivery_id],
                        "repository": [None, full_name[:200]],
                        "minute": [None, tally.minute],
                        "rejected_this_minute": [None, tally.count],
                        "recorded": [None, _RECORDED],
                    },
                )
        except Exception:
            rejections.unrecord(tally)
            raise
    if tally.over_limit:
        raise RejectionsThrottled(
            f"Too many rejected deliveries from this address: retry after {tally.retry_after} seconds.",
            retry_after=tally.retry_after,
        )
    if reason == "missing signature":
        raise SignatureRejected("No X-Hub-Signature-256 header: give the webhook its secret in GitHub.")
    # One message for an unknown repository and a wrong secret, so the answer does not list registered repositories.
    raise SignatureRejected("The signature does not match the repository's webhook secret.")


def _authenticate(
    *, body: bytes, signature: str | None, event: str, delivery_id: str, full_name: str, client_ip: str | None
) -> GitRepository:
    """The repository whose webhook secret signed `body`; anything else is rejected (and counted, see _reject)."""
    candidates = list(gitsync.repositories_for_github(full_name)) if _FULL_NAME.match(full_name) else []
    context = {
        "event": event, "delivery_id": delivery_id, "full_name": full_name, "candidates": candidates,
        "client_ip": client_ip,
    }  # fmt: skip
    if not signature:
        _reject("missing signature", **context)
    if not candidates:
        _reject("unknown repository", **context)
    signed = signature.encode()  # bytes: compare_digest refuses non-ASCII str, and headers may hold anything
    for repository in candidates:
        if _signature_matches(body, signed, repository):
            return repository
    _reject("signature mismatch", **context)


def github_delivery_receive(
    *, event: str | None, delivery_id: str | None, signature: str | None, body: bytes, client_ip: str | None = None
):
    """Take one GitHub delivery: check it, authenticate it, record it once, and run its event's handler.

    Raises WebhookError (400), or SignatureRejected (401; `webhook.rejected` is recorded for the first from
    `client_ip` in a minute), or RejectionsThrottled (429) past WEBHOOK_REJECTION_LIMIT rejections from
    `client_ip` in a minute. A delivery id the repository has seen before is answered as a duplicate and
    changes nothing.
    """
    if not event:
        raise WebhookError("The X-GitHub-Event header is missing.")
    if not _EVENT.match(event):
        raise WebhookError("X-GitHub-Event does not name a GitHub event.")
    if not delivery_id or not _DELIVERY.match(delivery_id):
        raise WebhookError("X-GitHub-Delivery is missing or is not a delivery id.")
    payload = _parse(body)
    full_name = _full_name(payload)
    repository = _authenticate(
        body=body, signature=signature, event=event, delivery_id=delivery_id, full_name=full_name, client_ip=client_ip
    )
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the outer transaction usable
                delivery = WebhookDelivery.objects.create(
                    delivery_id=delivery_id, event=event, repository=repository, full_name=full_name,
                    outcome=Outcome.IGNORED,
                )  # fmt: skip
        except IntegrityError:
            if not WebhookDelivery.objects.filter(repository=repository, delivery_id=delivery_id).exists():
                raise
            return Receipt(DUPLICATE, "duplicate delivery", (repository.name,))
        handler = HANDLERS.get(event)
        if handler is None:
            receipt = Receipt(Outcome.IGNORED, f"The {event} event is not used.")
        else:
            receipt = handler(payload, repository)
        delivery.outcome, delivery.detail = receipt.outcome, receipt.detail
        delivery.save(update_fields=["outcome", "detail"])
    return receipt
