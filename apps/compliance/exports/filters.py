"""The audit filters shared by the page, its exports and (later) the API: parsed strictly, refused clearly."""

from dataclasses import asdict, dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.core.inputs import parse_id

FILTER_KEYS = ("date_from", "date_to", "team", "model", "version", "environment", "request", "actor", "action",
               "target")  # fmt: skip
NOT_FILTERS = ("page", "format", "csrfmiddlewaretoken")
_INTEGER_KEYS = ("team", "model", "version", "environment", "request")


@dataclass(frozen=True)
class AuditFilters:
    date_from: date | None = None
    date_to: date | None = None
    team: int | None = None
    model: int | None = None
    version: int | None = None
    environment: int | None = None
    request: int | None = None
    actor: str = ""
    action: str = ""
    target: str = ""

    def as_dict(self) -> dict:
        """The filters that are set, JSON-ready (for manifests and audit events)."""
        return {key: (value.isoformat() if isinstance(value, date) else value)
                for key, value in asdict(self).items() if value not in (None, "")}  # fmt: skip

    def selector_kwargs(self) -> dict:
        data = asdict(self)
        kwargs = {key: data[key] for key in ("actor", "action", "target", "date_from", "date_to") if data[key]}
        for key in _INTEGER_KEYS:
            if data[key] is not None:
                kwargs[f"{key}_id"] = data[key]
        return kwargs


def parse(params, *, user, for_export: bool = False) -> AuditFilters:
    """AuditFilters from query parameters; ValidationError naming each bad one; PermissionDenied for a foreign team."""
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(params) - set(FILTER_KEYS) - set(NOT_FILTERS))
    if unknown:
        errors["__all__"] = [f"Unknown filter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                             f"Use {', '.join(FILTER_KEYS)}."]  # fmt: skip
    values: dict = {}
    for key in ("date_from", "date_to"):
        raw = (params.get(key) or "").strip()
        if raw:
            try:
                values[key] = date.fromisoformat(raw)
            except ValueError:
                errors[key] = [f"{raw!r} is not a date: use YYYY-MM-DD."]
    for key in _INTEGER_KEYS:
        raw = (params.get(key) or "").strip()
        if raw:
            if (number := parse_id(raw)) is not None:
                values[key] = number
            else:
                errors[key] = [f"{key} must be a positive number (an id), not {raw!r}."]
    for key in ("actor", "action", "target"):
        raw = (params.get(key) or "").strip()
        if len(raw) > 200:
            errors[key] = ["At most 200 characters."]
        elif raw:
            values[key] = raw
    if values.get("date_from") and values.get("date_to") and values["date_to"] < values["date_from"]:
        errors["date_to"] = ["The end date is before the start date."]
    if errors:
        raise ValidationError(errors)
    filters = AuditFilters(**values)
    action = permissions.EXPORT_AUDIT if for_export else permissions.VIEW_AUDIT
    if filters.team is not None and not Team.objects.restrict(user, action).filter(pk=filters.team).exists():
        raise PermissionDenied("You may not read or export that team's audit trail.")
    return filters
