"""What a handler answers: shared by the delivery service and the event handlers it dispatches to."""

from dataclasses import dataclass

DUPLICATE = "duplicate"  # a receipt's outcome when the delivery was handled before; never stored


@dataclass(frozen=True)
class Receipt:
    """What became of a delivery: an Outcome (or DUPLICATE), why, and the repositories it concerned."""

    outcome: str
    detail: str = ""
    repositories: tuple[str, ...] = ()
