"""Shared by the audit tests: append real events, and play the forger who bypasses the triggers."""

from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction

from apps.audit import triggers
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import Target, record


def append(count: int, **changes) -> list[AuditEvent]:
    """Record `count` events through record(), each in its own transaction, as the system actor."""
    events = []
    for n in range(count):
        with transaction.atomic():
            events.append(
                record(
                    action=Action.MODEL_UPDATED,
                    actor=Actor.system("test"),
                    target=Target("test.thing", n, f"thing {n}", scope={"team": 1}),
                    changes={"n": [n, n + 1], **changes},
                )
            )
    return events


@contextmanager
def triggers_bypassed():
    """What a database superuser can do: switch the append-only triggers (events, checkpoints) off, then on."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in triggers.TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    else:
        triggers.drop(connection)
    try:
        yield
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for table in triggers.TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        triggers.install(connection)


def forge(sequence: int, prev_hash: str, label: str = "mallory") -> AuditEvent:
    """Insert an event no service wrote, with a correctly computed hash linking to `prev_hash`."""
    previous = AuditEvent.objects.filter(hash=prev_hash).first()
    event = AuditEvent(
        sequence=sequence,
        timestamp=(previous.timestamp if previous else AuditEvent.objects.order_by("sequence").first().timestamp)
        + timedelta(microseconds=1),
        actor_label=label,
        actor_kind="user",
        action=Action.ROLE_GRANTED.value,
        target_type="accounts.membership",
        target_id="999",
        target_label=f"{label} as admin of Credit Risk",
        team_id=1,
        changes={"role": [None, "admin"]},
        context={"request_id": "forged-request", "source": "web"},
        prev_hash=prev_hash,
    )
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    return event
