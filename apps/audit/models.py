from django.conf import settings
from django.db import models
from django.db.models.functions import Upper

from apps.core import querysets
from apps.core.querysets import RestrictedQuerySet

from . import hashing
from .actions import SECURITY_ACTIONS
from .actors import ActorKind

SCOPE_FIELDS = ("team_id", "model_id", "version_id", "environment_id", "request_id")
# The permission questions audit asks (core.querysets.rule); accounts.permissions answers them.
READABLE_TEAMS = "audit.readable_team_ids"  # user -> a subquery of the teams whose trail the user reads, None if none
READS_SECURITY_EVENTS = "audit.reads_security_events"  # user -> may they read every team's security events?


class AuditEventQuerySet(RestrictedQuerySet):
    # Who may read which events is accounts' decision, asked through core.querysets' rules (accounts installs them;
    # audit sits below accounts and never imports it). Without a rule, nothing is readable.
    def restrict_for(self, user, action):
        readable_teams = querysets.rule(READABLE_TEAMS)
        reads_security = querysets.rule(READS_SECURITY_EVENTS)
        if action != "view" or readable_teams is None or reads_security is None:
            return self.none()
        teams = readable_teams(user)
        security = reads_security(user)
        if not security and teams is None:
            return self.none()
        # Portal-wide events (policies, environments, people's accounts) have no team: every auditor reads them.
        readable = models.Q(team_id__isnull=True)
        if teams is not None:
            readable = models.Q(team_id__in=teams) | readable
        if security:  # a portal auditor reads every team's security events as well
            return self.filter(readable | models.Q(action__in=SECURITY_ACTIONS))
        return self.filter(readable).exclude(action__in=SECURITY_ACTIONS)

    def readable_by(self, user):
        """Without the security events `user` may not read: for histories shown to whoever sees the object."""
        reads_security = querysets.rule(READS_SECURITY_EVENTS)
        if reads_security is not None and reads_security(user):
            return self
        return self.exclude(action__in=SECURITY_ACTIONS)

    def for_model(self, model):
        return self.filter(model_id=model.pk)


class AuditEvent(models.Model):
    """One append-only, hash-chained record of a governed change.

    Rows are never updated or deleted (database triggers refuse it); `hash` covers
    every other field and the previous event's hash, so any edit, deletion,
    insertion or reordering breaks the chain that `audit_verify` recomputes.
    Labels are frozen copies so the record outlives the users and objects it names.
    """

    sequence = models.BigIntegerField(unique=True)
    timestamp = models.DateTimeField(db_index=True)
    # No database FK: users may be deleted; the event keeps the id and the label.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=200)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.CHOICES)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    # Denormalised scope keys (no FKs): who may read the event and how auditors filter it.
    team_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    model_id = models.BigIntegerField(null=True, blank=True)  # indexed by audit_model_trail_idx, below
    version_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    environment_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    request_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    changes = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            # The trail's actor filter (actor_label__iexact): without it a rare actor's page and count read every row.
            models.Index(Upper("actor_label"), name="audit_actor_upper_idx"),
            # A model's trail: its events in order, with the team and action the reader's scope and the filters test,
            # so a model's page and capped count read the index alone (its count at 1M events: 7.8 -> 1.8 ms).
            models.Index(fields=["model_id", "sequence", "team_id", "action"], name="audit_model_trail_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(sequence__gte=1), name="audit_sequence_positive")]

    def __str__(self):
        return f"#{self.sequence} {self.action} {self.target_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit events are append-only.")

    @property
    def scope(self) -> dict:
        return {name.removesuffix("_id"): getattr(self, name) for name in SCOPE_FIELDS if getattr(self, name)}

    def hash_payload(self) -> dict:
        return payload_from_values(
            {field: getattr(self, field) for field in hashing.HASHED_FIELDS if field != "scope"}
            | {name: getattr(self, name) for name in SCOPE_FIELDS}
        )

    def compute_hash(self) -> str:
        return hashing.compute_hash(self.hash_payload())


def payload_from_values(row: dict) -> dict:
    """The hashed payload of an event from a row of column values (model or .values())."""
    payload = {field: row[field] for field in hashing.HASHED_FIELDS if field not in ("scope", "timestamp")}
    payload["timestamp"] = hashing.format_timestamp(row["timestamp"])
    payload["scope"] = {name.removesuffix("_id"): row[name] for name in SCOPE_FIELDS if row.get(name)}
    return payload


class ChainHead(models.Model):
    """The single row every append locks: the sequence and hash of the newest event."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=hashing.GENESIS_HASH)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_single_chain_head")]

    def __str__(self):
        return f"chain head #{self.sequence} {self.hash[:12]}"


class AuditCheckpoint(models.Model):
    """A signed statement of the chain's size and head hash at a moment: rewriting history before it shows."""

    sequence = models.BigIntegerField(help_text="Chain size (the head's sequence) when signed.")
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    prev_signature = models.TextField(blank=True)
    signature = models.TextField()
    key_id = models.CharField(max_length=40)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"checkpoint #{self.sequence} {self.head_hash[:12]}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Audit checkpoints are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit checkpoints are append-only.")

    def signed_payload(self) -> dict:
        from .hashing import format_timestamp

        return {
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "created_at": format_timestamp(self.created_at),
            "prev_signature": self.prev_signature,
        }
