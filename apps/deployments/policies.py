"""The drift rule: what runs for a model in an environment against the latest request approved there. Pure.

One status per (model, environment), from the most to the least serious finding:
  - retired but running: the model's lifecycle is retired, yet a target runs it;
  - unapproved: a version runs that was never approved for the environment;
  - digest mismatch: the approved version runs, but a different artifact than the one approved;
  - rollout pending / overdue: the latest approved version does not run (yet), within or past the environment's
    grace period; overdue at once when CI reported it deployed and the targets disagree;
  - unknown: a target of the environment cannot be read, and nothing readable says what runs;
  - in sync: the approved version runs, with the approved digest where the target reports one.
Nothing approved and nothing running is no status at all.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import DriftStatus


@dataclass(frozen=True)
class Approved:
    """The latest approved request for the (model, environment)."""

    request_id: int
    version_id: int
    version: str
    digest: str
    approved_at: datetime
    reported_at: datetime | None = None  # CI's latest `deployment.reported` succeeded for this request


@dataclass(frozen=True)
class Seen:
    """One open observation interval: a version running on a target."""

    version_id: int | None
    version: str
    digest: str
    target: str


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str
    running: Seen | None = None
    evidence: dict = field(default_factory=dict)


def _names(seen: list[Seen]) -> str:
    return ", ".join(sorted({s.target for s in seen}))


def drift(
    *,
    running: list[Seen],
    approved: Approved | None,
    ever_approved: frozenset[int],
    retired: bool,
    unknown_targets: list[str],
    now: datetime,
    grace: timedelta,
    observed_at: datetime | None = None,
) -> Verdict | None:
    """The status of one (model, environment); None when nothing is approved or running there.

    observed_at: when every target of the environment had last been read (the oldest of their last observations).
    """
    if running:
        first = running[0]
        if retired:
            return Verdict(DriftStatus.RETIRED_BUT_RUNNING, f"Retired, yet {first.version or 'a version'} runs on "
                           f"{_names(running)}.", first)  # fmt: skip
        if approved is None:
            return Verdict(DriftStatus.UNAPPROVED, f"{first.version or 'An unknown version'} runs on "
                           f"{_names(running)} with no approved request for this environment.", first)  # fmt: skip
        stray = [s for s in running if s.version_id != approved.version_id and s.version_id not in ever_approved]
        if stray:
            return Verdict(DriftStatus.UNAPPROVED, f"{stray[0].version or 'An unregistered version'} runs on "
                           f"{_names(stray)}, but {approved.version} is the version approved.", stray[0])  # fmt: skip
        mismatched = [
            s for s in running if s.version_id == approved.version_id and s.digest and approved.digest
            and s.digest != approved.digest
        ]  # fmt: skip
        if mismatched:
            seen = mismatched[0]
            return Verdict(DriftStatus.DIGEST_MISMATCH, f"{approved.version} runs on {_names(mismatched)} with "
                           f"artifact sha256:{seen.digest[:12]}…, not the approved sha256:{approved.digest[:12]}….",
                           seen, {"observed_digest": seen.digest, "approved_digest": approved.digest})  # fmt: skip
        current = [s for s in running if s.version_id == approved.version_id]
        if current:
            unverified = [s.target for s in current if not s.digest]
            reason = f"{approved.version} runs on {_names(current)} as approved."
            if unverified:
                reason += f" ({', '.join(sorted(unverified))} reports no digest to compare.)"
            return Verdict(DriftStatus.IN_SYNC, reason, current[0])
        return _rollout(approved, now, grace, observed_at, first, f"{first.version} (approved earlier) still runs on "
                        f"{_names(running)}")  # fmt: skip
    if unknown_targets and approved is not None:
        return Verdict(DriftStatus.UNKNOWN, f"{', '.join(sorted(unknown_targets))} cannot be read: what runs is "
                       "unknown.")  # fmt: skip
    if approved is None:
        return None
    return _rollout(approved, now, grace, observed_at, None, "nothing runs yet")


def _rollout(approved, now, grace, observed_at, seen: Seen | None, what: str) -> Verdict:
    due = approved.approved_at + grace
    if approved.reported_at and observed_at and approved.reported_at <= observed_at:  # read after CI's report
        return Verdict(DriftStatus.ROLLOUT_OVERDUE, f"CI reported {approved.version} deployed, but {what}.", seen,
                       {"reported_at": approved.reported_at.isoformat()})  # fmt: skip
    if now < due:
        return Verdict(DriftStatus.ROLLOUT_PENDING, f"{approved.version} was approved; {what} (due by "
                       f"{due:%Y-%m-%d %H:%M} UTC).", seen, {"due": due.isoformat()})  # fmt: skip
    return Verdict(DriftStatus.ROLLOUT_OVERDUE, f"{approved.version} was approved, but {what}, past the grace period "
                   f"(due {due:%Y-%m-%d %H:%M} UTC).", seen, {"due": due.isoformat()})  # fmt: skip
