"""Audit reads: scoped by the reader's audit rights, filtered, newest first.

The object histories (model, version, request) are shown to whoever may see the object, so they carry no
security event (audit.actions.SECURITY_ACTIONS) unless the reader may read those (a portal auditor).
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

from .models import AuditEvent


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


def audit_event_list(
    *,
    user,
    actor: str = "",
    action: str = "",
    target: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    team_id: int | None = None,
    model_id: int | None = None,
    version_id: int | None = None,
    environment_id: int | None = None,
    request_id: int | None = None,
):
    """Events `user` may read (their teams' trail and portal-wide events; all for superusers), filtered.

    action is a prefix ("model." matches every model action); dates are UTC days, both inclusive.
    """
    qs = AuditEvent.objects.restrict(user)
    if actor:
        qs = qs.filter(actor_label__iexact=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if target:
        qs = qs.filter(Q(target_label__icontains=target) | Q(target_type=target))
    if date_from:
        qs = qs.filter(timestamp__gte=_day_start(date_from))
    if date_to:
        qs = qs.filter(timestamp__lt=_day_start(date_to + timedelta(days=1)))
    scope = {"team_id": team_id, "model_id": model_id, "version_id": version_id, "environment_id": environment_id,
             "request_id": request_id}  # fmt: skip
    qs = qs.filter(**{key: value for key, value in scope.items() if value is not None})
    return qs.order_by("-sequence")


# What a table of events shows (templates/partials/event_table.html and compliance.sentences): no hashes, no scope
# ids; each actor's name as it is now comes with its row (a join on the user's key), not in a query of its own.
TABLE_FIELDS = (
    "sequence", "timestamp", "actor_label", "actor_kind", "action", "target_type", "target_id", "target_label",
    "changes", "context", "actor__username", "actor__first_name", "actor__last_name",
)  # fmt: skip


def as_table_rows(events):
    """`events` (a queryset) reading what a table of them shows (TABLE_FIELDS), their actors' names included."""
    return events.select_related("actor").only(*TABLE_FIELDS)


def audit_event_list_for_models(*, model_ids, user):
    """History of several models (a subquery of models the reader may already see), newest first."""
    return AuditEvent.objects.filter(model_id__in=model_ids).readable_by(user).order_by("-sequence")


def audit_event_list_for_version(*, version, user):
    """One version's own history, for readers who may already see its model."""
    return AuditEvent.objects.filter(version_id=version.pk).readable_by(user).order_by("-sequence")


def audit_event_list_for_request(*, request, user):
    """A deployment request's own history, for readers who may already see the request, newest first."""
    return AuditEvent.objects.filter(request_id=request.pk).readable_by(user).order_by("-sequence")


def audit_event_list_for_model(*, model, user):
    """A model's own history (the model and its versions), for readers who may already see the model."""
    return AuditEvent.objects.filter(model_id=model.pk).readable_by(user).order_by("-sequence")
