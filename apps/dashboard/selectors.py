"""The home page's reads: first what the signed-in person must act on, then the state of things, all scoped to what
they may see. Read-only, through the owning apps' selectors; a fixed number of queries however much data there is
(tests/dashboard/test_home.py counts them).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.approvals import selectors as approvals
from apps.approvals.models import RequestState
from apps.core import keyset
from apps.deployments import dashboard as deployments
from apps.gitsync import selectors as gitsync
from apps.inventory import selectors as inventory

from . import charts

SHOWN = 10  # rows per list; each list says how many there are in all
# The requests to act on are counted up to this many ("1,000+"): a requester or an approver can have far more (a CI
# service account's own requests), and counting them all cost 340 ms at a million requests.
COUNT_CAP = 1_000
RECENT = 8  # deployments shown
WEEKS = 12  # the charts' span, whole weeks from Monday 00:00 UTC, this one included
OUTCOMES = [
    charts.Series(RequestState.APPROVED, "Approved"),
    charts.Series(RequestState.REJECTED, "Rejected"),
    charts.Series(RequestState.CANCELLED, "Cancelled"),
    charts.Series(RequestState.EXPIRED, "Expired"),
]


@dataclass
class Section:
    """One list of things to act on: `template` shows `items` (the first SHOWN of `total`)."""

    key: str
    title: str
    total: int
    items: list
    template: str
    empty: str  # what to say when there is nothing
    capped: bool = False  # counted up to COUNT_CAP: there are `total` or more

    @property
    def more(self) -> int:
        return self.total - len(self.items)

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.capped else f"{self.total:,}"

    @property
    def more_label(self) -> str:
        return f"{self.more:,}+" if self.capped else f"{self.more:,}"


def _counted(key: str, title: str, rows, template: str, empty: str) -> Section:
    """A section of the first SHOWN `rows`, counted up to COUNT_CAP."""
    total, capped = keyset.capped_count(rows, COUNT_CAP)
    return Section(key, title, total, list(rows[:SHOWN]), template, empty, capped)


def week_starts(now: datetime, count: int = WEEKS) -> list[datetime]:
    """The starts (Monday 00:00 UTC) of the last `count` weeks, oldest first; the last one is this week."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=back) for back in range(count - 1, -1, -1)]


def _week_label(start: datetime) -> str:
    return f"{start.day} {start:%b}"


def act_first(*, user, now: datetime, overdue_total: int) -> list[Section]:
    """What `user` must act on, in this order (`overdue_total`: from registered_model_counts, already counted)."""
    waiting = approvals.waiting_for(user=user)
    mine = approvals.own_open_requests(user=user)
    exceptions = deployments.open_exceptions(user=user, limit=SHOWN)
    overdue = inventory.validation_overdue_list(user=user, today=timezone.localdate(now))
    sections = [
        _counted("waiting", "Waiting for my decision", waiting, "dashboard/_waiting.html",
                 "Nothing is waiting for your decision."),
        _counted("mine", "My open requests", mine, "dashboard/_mine.html", "You have no draft or pending request."),
        Section("exceptions", "Open exceptions", exceptions.total, exceptions.items, "dashboard/_exceptions.html",
                "No deployment exception is open."),
        Section("overdue", "Validations overdue", overdue_total, list(overdue[:SHOWN]), "dashboard/_overdue.html",
                "No model's validation is overdue."),
    ]  # fmt: skip
    return sections


def request_charts(*, user, weeks: list[datetime]) -> list[charts.Chart]:
    since = weeks[0]
    closed = approvals.requests_closed_per_week(user=user, since=since)
    per_week = charts.stacked_columns(
        id="chart-requests", title="Requests closed per week, by outcome", header="Week starting",
        categories=[_week_label(week) for week in weeks], series=OUTCOMES,
        values=[{s.key: closed.get((week.date(), s.key), 0) for s in OUTCOMES} for week in weeks],
    )  # fmt: skip
    times = approvals.approval_time_by_environment(user=user, since=since)
    waits = charts.horizontal_bars(
        id="chart-approval-time", title="Median time from submission to approval", header="Environment",
        labels=[row.environment for row in times], durations=[row.median for row in times],
        extra=[f"{row.count} approved" for row in times], value_header="Median", extra_header="Requests approved",
    )  # fmt: skip
    return [per_week, waits]


def exception_chart(*, user, weeks: list[datetime]) -> charts.Chart:
    counts = deployments.exceptions_open_per_week(user=user, weeks=weeks)
    return charts.line(
        id="chart-exceptions", title="Deployment exceptions open at the end of each week", header="Week starting",
        categories=[_week_label(week) for week in weeks], values=counts, label="Exceptions open",
    )  # fmt: skip


def home_page(*, user, now: datetime | None = None) -> dict:
    """Everything the home page shows for `user`."""
    now = now or timezone.now()
    weeks = week_starts(now)
    counts = inventory.registered_model_counts(user=user, today=timezone.localdate(now))
    sections = act_first(user=user, now=now, overdue_total=counts["overdue"])
    return {
        "sections": [section for section in sections if section.total],
        "all_clear": [section for section in sections if not section.total],
        "counts": counts,
        "failing_repositories": list(gitsync.repositories_failing(user=user)[:SHOWN]),
        "unreachable_targets": list(deployments.unreachable_targets(user=user)[:SHOWN]),
        "recent_deployments": deployments.recent_deployments(user=user, limit=RECENT),
        "charts": [*request_charts(user=user, weeks=weeks), exception_chart(user=user, weeks=weeks)],
        "chart_weeks": (weeks[0], now),
    }
