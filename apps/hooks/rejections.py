"""Deliveries that fail authentication, counted per client address and minute in the shared cache.

Anyone can POST to the webhook, and each `webhook.rejected` event is kept for good: so only the first rejection
from an address in a minute is recorded (with the count so far); the rest of that minute are counted here and
logged. Past WEBHOOK_REJECTION_LIMIT in a minute the address is answered 429 with Retry-After. Signed deliveries
are never counted or held back: GitHub sends every customer's webhooks from the same addresses, so a stranger's
misconfigured hook pointing here must not block ours.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

from apps.core import counters

_MINUTE = 60


@dataclass(frozen=True)
class Tally:
    """One rejection, as counted: the address's rejections this minute so far, and whether to record this one."""

    client_ip: str
    count: int
    retry_after: int
    minute: str  # ISO 8601, e.g. 2027-01-15T08:00Z
    record: bool  # the first of this (address, minute) to get here: write the audit event
    marker: str

    @property
    def over_limit(self) -> bool:
        return self.count > settings.WEBHOOK_REJECTION_LIMIT


def count(client_ip: str | None) -> Tally:
    """Count one rejected delivery from `client_ip` (None: no address known, all such share one count)."""
    address = client_ip or "unknown"
    rejected, retry_after, start = counters.window_count(f"hooks.rejected.{address}", seconds=_MINUTE)
    marker = f"hooks.rejected.recorded.{address}:{start}"
    first = cache.add(marker, True, _MINUTE)  # atomic: one process in one minute records
    minute = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%MZ")
    return Tally(address, rejected, retry_after, minute, first, marker)


def unrecord(tally: Tally) -> None:
    """The event for `tally` could not be written: let the next rejection this minute record instead."""
    cache.delete(tally.marker)
