"""Pure inventory rules: no queries, easy to test exhaustively."""

from .models import Lifecycle

# A model moves forward through validation to production; it may go back for
# re-validation; retirement is final (a retired model keeps its record forever).
LIFECYCLE_TRANSITIONS: dict[str, frozenset[str]] = {
    Lifecycle.DEVELOPMENT: frozenset({Lifecycle.VALIDATION, Lifecycle.RETIRED}),
    Lifecycle.VALIDATION: frozenset({Lifecycle.DEVELOPMENT, Lifecycle.PRODUCTION, Lifecycle.RETIRED}),
    Lifecycle.PRODUCTION: frozenset({Lifecycle.VALIDATION, Lifecycle.RETIRED}),
    Lifecycle.RETIRED: frozenset(),
}


def lifecycle_transition_error(current: str, new: str) -> str | None:
    """Why `current → new` is not allowed, or None when it is."""
    if new not in Lifecycle.values:
        return f"Unknown lifecycle status {new!r}; choose one of {', '.join(Lifecycle.values)}."
    if new == current:
        return f"The model is already in {Lifecycle(new).label.lower()}."
    if new not in LIFECYCLE_TRANSITIONS[current]:
        allowed = ", ".join(Lifecycle(s).label.lower() for s in sorted(LIFECYCLE_TRANSITIONS[current])) or "nothing"
        return (
            f"A model in {Lifecycle(current).label.lower()} can move to {allowed}, not {Lifecycle(new).label.lower()}."
        )
    return None


def validator_conflict(validator_id: int | None, owner_ids: set[int]) -> bool:
    """Independent validation: the validator may not be one of the owners."""
    return validator_id is not None and validator_id in owner_ids


def validation_dates_error(last_validated_on, next_validation_due) -> str | None:
    if last_validated_on and next_validation_due and next_validation_due < last_validated_on:
        return "The next validation cannot be due before the last validation."
    return None
