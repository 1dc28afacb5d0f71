import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from apps.core import request_context

from . import fast_hashing, hashing
from .actions import Action
from .actors import Actor
from .models import SCOPE_FIELDS, AuditEvent, ChainHead


class Target:
    """A record target that is not a model row (e.g. a login attempt for an unknown username)."""

    def __init__(self, type_: str, id_: str = "", label: str = "", scope: dict | None = None):
        self.type, self.id, self.label, self.scope = type_, str(id_), label, scope or {}


def _json_value(value) -> object:
    # Stored exactly as hashed: dates/decimals/UUIDs become strings, NUL (which jsonb refuses) is replaced.
    text = json.dumps(value, cls=DjangoJSONEncoder).replace("\\u0000", "\\ufffd")
    return hashing.loads_normalized(text)  # normalize(json.loads(text)), in one C pass


def _target_fields(target) -> tuple[str, str, str, dict]:
    if target is None:
        return "", "", "", {}
    if isinstance(target, Target):
        return target.type, target.id, target.label[:200], target.scope
    if isinstance(target, models.Model):
        scope = target.audit_scope() if hasattr(target, "audit_scope") else {}
        # A model that moved between apps keeps the type name the record already uses (`audit_target_type`).
        target_type = getattr(target, "audit_target_type", target._meta.label_lower)
        return target_type, str(target.pk), str(target)[:200], scope
    raise TypeError(f"cannot audit a {type(target).__name__}")


def _event(action, actor, target, changes, context) -> AuditEvent:
    """An unsaved, unchained event: checked and normalised exactly as it will be hashed."""
    if not isinstance(action, Action):
        raise ValueError(f"unknown audit action {action!r}: add it to apps/audit/actions.py")
    if not isinstance(actor, Actor):
        raise TypeError("actor must be an Actor (Actor.of(user) or Actor.system(name))")
    target_type, target_id, target_label, scope = _target_fields(target)
    if len(target_type) > 100 or len(target_id) > 64:
        raise ValueError("an audit target's type is at most 100 characters and its id at most 64")
    event = AuditEvent(
        actor=actor.user,
        actor_label=actor.label[:200],
        actor_kind=actor.kind,
        action=action.value,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        changes=_json_value(changes or {}),
        context=context,
    )
    for name in SCOPE_FIELDS:
        setattr(event, name, scope.get(name.removesuffix("_id")))
    return event


def _in_transaction(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"audit.{name}() must run inside the service's transaction")


def _hash(event: AuditEvent) -> str:
    """event.compute_hash(), hashed under the chain head's lock: the bytes written by orjson where fast_hashing vouches
    for them (the chain verifier's own shortcut, ten times faster), else by the definition. Changes and context are
    values read back from JSON text (see _json_value), which is what fast_hashing vouches for."""
    payload = event.hash_payload()
    data = fast_hashing.canonical_or_none(payload)
    return hashlib.sha256(data).hexdigest() if data is not None else hashing.compute_hash(payload)


def record(*, action: Action, actor: Actor, target, changes: dict | None = None) -> AuditEvent:
    """Append one event to the hash chain, in the caller's transaction.

    The chain head row is locked first, so appends are serialised and sequences
    stay gapless; if the caller's transaction rolls back, so does the event.
    """
    return record_many([(action, actor, target, changes)])[0]


def record_many(entries) -> list[AuditEvent]:
    """Append several events, in order, under ONE lock of the chain head and in one INSERT: each still its own
    event, hashed and chained to the one before it exactly as record() would have done, in the caller's
    transaction. `entries` are (action, actor, target, changes) tuples, or (..., extra) with context of that event
    alone (a Git sync's commit), under the request context's own keys. For bulk paths (bulk registration, the
    demo loader, Git sync), where one lock per event would serialise everything.
    """
    _in_transaction("record_many" if len(entries) != 1 else "record")
    base = request_context.get().as_dict()
    context = _json_value(base)
    events = [
        _event(action, actor, target, changes, _json_value({**extra[0], **base}) if extra and extra[0] else context)
        for action, actor, target, changes, *extra in entries
    ]
    if not events:
        return []
    connection = transaction.get_connection()
    lock, advance = _head_statements(connection)
    with connection.cursor() as cursor:
        cursor.execute(lock)
        head = cursor.fetchone()
    if head is None:  # the first append of all: make the head row (locked like any other)
        made, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        head = made.sequence, made.hash
    (sequence, previous), now = head, timezone.now()
    for event in events:
        sequence += 1
        event.sequence, event.timestamp, event.prev_hash = sequence, now, previous
        event.hash = previous = _hash(event)
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        AuditEvent.objects.bulk_create(events)
    with connection.cursor() as cursor:
        cursor.execute(advance, [sequence, previous, connection.ops.adapt_datetimefield_value(now)])
    return events


_HEAD_STATEMENTS: dict[str, tuple[str, str]] = {}


def _head_statements(connection) -> tuple[str, str]:
    """The SQL that locks the chain head (reading its sequence and hash) and that moves it (sequence, hash, time):
    written once per database vendor rather than built by the ORM for every append, which cost several times more,
    and every writer waits for the second while the lock is held. FOR UPDATE where the database has it (SQLite's
    IMMEDIATE transactions already serialise writers)."""
    if connection.vendor not in _HEAD_STATEMENTS:
        quote, meta = connection.ops.quote_name, ChainHead._meta
        table, pk, sequence, hash_, updated = (
            quote(meta.db_table) if name is None else quote(meta.get_field(name).column)
            for name in (None, "id", "sequence", "hash", "updated_at")
        )
        lock = f"SELECT {sequence}, {hash_} FROM {table} WHERE {pk} = 1"  # noqa: S608 - names from model metadata
        if connection.features.has_select_for_update:
            lock += " FOR UPDATE"
        advance = f"UPDATE {table} SET {sequence} = %s, {hash_} = %s, {updated} = %s WHERE {pk} = 1"  # noqa: S608
        _HEAD_STATEMENTS[connection.vendor] = lock, advance
    return _HEAD_STATEMENTS[connection.vendor]


def diff(before: dict, after: dict) -> dict:
    """{field: [old, new]} for the fields whose value changed."""
    return {key: [before.get(key), after.get(key)] for key in after if before.get(key) != after.get(key)}
