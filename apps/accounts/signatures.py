"""Re-authentication for electronic signatures (21 CFR Part 11 §11.200): the signer re-enters their password.

Failures are audit events, committed even though the decision they guarded is refused;
five failures within 15 minutes lock signing for that person for 15 minutes. The
audit trail is the counter, so the lock holds across processes and machines.
"""

from datetime import timedelta

from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.actors import Actor, ActorKind
from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.core.exceptions import DomainError

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


class SignatureError(DomainError):
    code = "signature_invalid"
    status = 403


class SignatureLocked(SignatureError):
    code = "signature_locked"


def signing_locked_until(user, now=None):
    """When signing unlocks for `user`, or None if it is not locked."""
    now = now or timezone.now()
    recent = list(
        AuditEvent.objects.filter(action=Action.SIGNATURE_FAILED, actor_id=user.pk, actor_kind=ActorKind.USER,
                                  timestamp__gte=now - WINDOW - LOCKOUT)
        .order_by("-sequence")
        .values_list("timestamp", flat=True)[:MAX_FAILURES]
    )  # fmt: skip
    if len(recent) < MAX_FAILURES or recent[0] - recent[-1] > WINDOW:
        return None
    until = recent[0] + LOCKOUT
    return until if until > now else None


def verify_signature(*, actor: Actor, password: str, meaning: str, target) -> None:
    """Check the signer's password; on failure record `signature.failed` (committed) and raise SignatureError.

    Must run outside the decision's transaction, so the failure stays on record when the decision is refused.
    """
    if actor.kind != ActorKind.USER or actor.user is None:
        raise SignatureError("Only a person can sign; service tokens cannot.", code="signature_requires_person")
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("verify_signature() must run outside a transaction so that failures are kept")
    locked_until = signing_locked_until(actor.user)
    if locked_until:
        raise SignatureLocked(
            f"Signing is locked after {MAX_FAILURES} wrong passwords; try again after {locked_until:%H:%M} UTC."
        )
    if password and check_password(password, actor.user.password):
        return
    with transaction.atomic():
        record(action=Action.SIGNATURE_FAILED, actor=actor, target=target, changes={"meaning": [None, meaning]})
    remaining = MAX_FAILURES - _failures_in_window(actor.user)
    hint = (
        f" {remaining} attempt{'s' if remaining != 1 else ''} left before signing locks."
        if remaining > 0
        else " Signing is now locked for 15 minutes."
    )
    raise SignatureError("The password is not correct: the decision was not recorded." + hint)


def _failures_in_window(user) -> int:
    since = timezone.now() - WINDOW
    return AuditEvent.objects.filter(
        action=Action.SIGNATURE_FAILED, actor_id=user.pk, actor_kind=ActorKind.USER, timestamp__gte=since
    ).count()
