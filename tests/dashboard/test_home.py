"""The home page: what each person must act on first, then the state of things, only ever what they may see.

The cast (tests/conftest.py): Credit Risk (team A) has dana (contributor), rita, sam and bo (approvers), audrey
(auditor), vera (viewer) and alice (admin); Fraud (team B) has ben (admin). Deployment state, sync results and
closed requests are written directly with explicit times (furniture: their own apps test how they come about).
"""

import html
import re
from datetime import UTC, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.approvals.models import DeploymentRequest, RequestState, RequestStep, StepState
from apps.audit import services as audit_services
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import Target, record
from apps.deployments.models import EXCEPTIONS, DeploymentTarget, DriftState, DriftStatus, Running, TargetStatus
from apps.gitsync.models import GitRepository, SyncRun, SyncStatus
from apps.inventory.models import ModelVersion, RegisteredModel
from tests.approvals.conftest import (  # noqa: F401 — fixtures used by name
    envs,
    policy,
    request_production,
    scorecard,
)

# --- reading the page ----------------------------------------------------------------------------------------------


def home(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response


def text(response) -> str:
    return html.unescape(response.content.decode())


def section(response, key: str) -> str | None:
    """The HTML of the card `key` (waiting, mine, exceptions, overdue, health, recent-deployments), None if absent."""
    found = re.search(rf'<section[^>]*\bid="{key}".*?</section>', text(response), re.S)
    return found.group(0) if found else None


def total(response, key: str) -> int:
    return int(re.search(r'class="[^"]*section-total">(\d+)<', section(response, key)).group(1))


def all_clear(response) -> str:
    found = re.search(r'id="all-clear">(.*?)</ul>', text(response), re.S)
    return found.group(1) if found else ""


def table(response, table_id: str) -> list[list[str]]:
    """The rows of a chart's table (header row included) as lists of cell texts."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?</table>', text(response), re.S).group(0)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


# --- furniture -----------------------------------------------------------------------------------------------------


def drift(model, environment, status, *, since=None, reason=""):
    return DriftState.objects.create(
        model=model, environment=environment, status=status, reason=reason or f"{model.name}: {status}.",
        since=since or timezone.now(),
    )  # fmt: skip


def target(team, environment, name, **fields):
    return DeploymentTarget.objects.create(
        name=name, environment=environment, team=team, kind="gitops",
        config={"url": "https://github.com/acme/deploy.git", "paths": ["prod/*.yaml"]}, **fields,
    )  # fmt: skip


def failed_repository(team, name, error):
    repository = GitRepository.objects.create(
        name=name, url=f"https://github.com/acme/{name}.git", team=team, last_sync_status=SyncStatus.FAILED,
        last_synced_at=timezone.now(),
    )  # fmt: skip
    SyncRun.objects.create(repository=repository, trigger="schedule", status=SyncStatus.FAILED, errors=[error])
    return repository


def running(on, version, started_at=None):
    started_at = started_at or timezone.now()
    return Running.objects.create(
        target=on, environment_id=on.environment_id, model=version.model, version=version,
        model_key=version.model.slug, version_label=version.version, digest=version.artifact_digest,
        started_at=started_at, last_seen_at=started_at,
    )  # fmt: skip


def closed(version, environment, state, closed_at, waited=timedelta(hours=1), requester=None):
    """A request (dana's, unless said) submitted `waited` before it closed in `state` at `closed_at`."""
    return DeploymentRequest.objects.create(
        version=version, environment=environment, requester=requester or User.objects.get(username="dana"),
        justification="Release.", state=state, round=1, submitted_at=closed_at - waited, closed_at=closed_at,
        subject={"model": version.model.name, "version": version.version, "environment": environment.name},
    )  # fmt: skip


def pending_for_team(version, environment, requester, *, state=RequestState.PENDING):
    """A pending request whose open step any approver (or admin) of the model's team may decide."""
    now = timezone.now()
    request = DeploymentRequest.objects.create(
        version=version, environment=environment, requester=requester, justification="Release.", state=state,
        round=1 if state == RequestState.PENDING else 0, submitted_at=now if state == RequestState.PENDING else None,
        subject={"model": version.model.name, "version": version.version, "environment": environment.name},
    )  # fmt: skip
    if state == RequestState.PENDING:
        RequestStep.objects.create(
            request=request, order=1, name="Team review", approver_kind="team", team=version.model.team, quorum=1,
            state=StepState.OPEN, opened_at=now, due_at=now + timedelta(hours=48),
        )  # fmt: skip
    return request


def drift_event(monkeypatch, model, environment, before, after, when):
    """The audit event the observer writes when (model, environment) goes from status `before` to `after`, at `when`."""
    action = Action.DEPLOYMENT_DRIFT_DETECTED if after in EXCEPTIONS else Action.DEPLOYMENT_DRIFT_RESOLVED
    scope = {"team": model.team_id, "model": model.pk, "environment": environment.pk}
    with monkeypatch.context() as patched, transaction.atomic():
        patched.setattr(audit_services, "timezone", SimpleNamespace(now=lambda: when))
        record(action=action, actor=Actor.system("deployment-observer"),
               target=Target("deployments.driftstate", f"{model.pk}-{environment.pk}", f"{model} in {environment}",
                             scope),
               changes={"status": [before, after]})  # fmt: skip


def week_start(weeks_ago: int):
    """Monday 00:00 UTC of the week `weeks_ago` weeks before this one."""
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday(), weeks=weeks_ago)


def week_label(weeks_ago: int) -> str:
    start = week_start(weeks_ago)
    return f"{start.day} {start:%b}"


# --- who may see the page ------------------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


# --- waiting for my decision, my open requests ---------------------------------------------------------------------


def test_a_waiting_step_shows_for_rita_and_not_for_vera(client, cast, envs, scorecard):  # noqa: F811
    pending = request_production(cast, scorecard.versions.get(version="1.1.0"), envs)

    waiting = section(home(client, cast.rita), "waiting")
    assert f"#{pending.pk}<" in waiting and "1. Model risk review" in waiting and "Dana Tester" in waiting

    vera = home(client, cast.vera)
    assert section(vera, "waiting") is None
    assert "Nothing is waiting for your decision." in all_clear(vera)
    # dana asked for it: hers to follow, not to decide
    dana = home(client, cast.dana)
    assert section(dana, "waiting") is None
    mine = section(dana, "mine")
    assert f"#{pending.pk}<" in mine and "Pending" in mine and "1. Model risk review" in mine


def test_waiting_steps_carry_due_soon_and_overdue_markers(client, cast, envs, scorecard):  # noqa: F811
    v1, v2 = (scorecard.versions.get(version=v) for v in ("1.0.0", "1.1.0"))
    late, soon = request_production(cast, v1, envs), request_production(cast, v2, envs)
    now = timezone.now()
    RequestStep.objects.filter(request=late, state=StepState.OPEN).update(due_at=now - timedelta(hours=3))
    RequestStep.objects.filter(request=soon, state=StepState.OPEN).update(due_at=now + timedelta(hours=5))

    waiting = section(home(client, cast.sam), "waiting")

    rows = dict(re.findall(r"<tr>\s*<td><a[^>]*>#(\d+)</a>(.*?)</tr>", waiting, re.S))
    assert "overdue" in rows[str(late.pk)] and "due soon" not in rows[str(late.pk)]
    assert "due soon" in rows[str(soon.pk)] and "overdue" not in rows[str(soon.pk)]
    assert total(home(client, cast.sam), "waiting") == 2


def test_my_open_requests_are_the_users_own_drafts_and_pending_ones(client, cast, models, envs):  # noqa: F811
    version = models.scorecard.versions.get(version="1.0.0")
    draft = pending_for_team(version, envs.staging, cast.dana, state=RequestState.DRAFT)
    pending = pending_for_team(version, envs.production, cast.dana)
    done = closed(version, envs.production, RequestState.APPROVED, timezone.now(), requester=cast.dana)
    alices = pending_for_team(version, envs.staging, cast.alice)

    mine = section(home(client, cast.dana), "mine")

    assert f"#{draft.pk}<" in mine and f"#{pending.pk}<" in mine
    assert f"#{done.pk}<" not in mine and f"#{alices.pk}<" not in mine
    assert "your submission" in mine  # the draft waits on dana herself
    assert total(home(client, cast.dana), "mine") == 2
    assert section(home(client, cast.rita), "mine") is None


def test_open_requests_past_the_count_cap_are_counted_as_more_than_it(client, cast, models, envs, monkeypatch):  # noqa: F811
    from apps.dashboard import selectors

    monkeypatch.setattr(selectors, "COUNT_CAP", 12)
    version = models.scorecard.versions.get(version="1.0.0")
    for _ in range(13):
        pending_for_team(version, envs.production, cast.dana)
    page = home(client, cast.dana)
    mine = section(page, "mine")
    assert re.search(r'section-total" title="Counted up to 12\+">12\+<', mine)
    assert "and 2+ more" in mine  # 10 shown, and at least 2 more: never a count past the cap
    monkeypatch.setattr(selectors, "COUNT_CAP", 13)
    assert total(home(client, cast.dana), "mine") == 13  # at the cap exactly: the true number, not "13+"


# --- open exceptions, overdue validations --------------------------------------------------------------------------


def test_open_exceptions_are_newest_first_and_never_another_teams(client, cast, models, envs):  # noqa: F811
    now = timezone.now()
    drift(models.scorecard, envs.production, DriftStatus.UNAPPROVED, since=now - timedelta(days=2))
    drift(models.scorecard, envs.staging, DriftStatus.DIGEST_MISMATCH, since=now - timedelta(hours=1))
    drift(models.detector, envs.production, DriftStatus.RETIRED_BUT_RUNNING, reason="Fraud's own trouble.")
    other = RegisteredModel.objects.create(name="Quiet Model", slug="quiet-model", team=cast.team_a, risk_tier="low")
    drift(other, envs.production, DriftStatus.IN_SYNC)  # not an exception

    for name in ("rita", "audrey", "vera", "dana", "alice"):
        exceptions = section(home(client, getattr(cast, name)), "exceptions")
        assert "Fraud's own trouble." not in exceptions and "Card Fraud Detector" not in exceptions, name
        assert "Quiet Model" not in exceptions, name
        kinds = re.findall(r'data-kind="([a-z_]+)"', exceptions)
        assert kinds == [DriftStatus.DIGEST_MISMATCH, DriftStatus.UNAPPROVED], name
        assert f'href="/models/{models.scorecard.slug}/"' in exceptions

    ben = section(home(client, cast.ben), "exceptions")
    assert re.findall(r'data-kind="([a-z_]+)"', ben) == [DriftStatus.RETIRED_BUT_RUNNING]
    assert "Retail Scorecard" not in ben
    assert total(home(client, cast.admin), "exceptions") == 3


def test_an_emergency_deployment_is_an_open_exception_until_a_post_hoc_approval(client, cast, models, envs):  # noqa: F811
    from django.db import transaction

    from apps.audit.actors import Actor
    from apps.deployments import breakglass

    version = models.scorecard.versions.get(version="1.1.0")
    with transaction.atomic():
        record = breakglass.break_glass_record(actor=Actor.of(cast.admin), version=version,
                                               environment=envs.production, reason="Outage.", deploy=False)  # fmt: skip

    exceptions = section(home(client, cast.vera), "exceptions")
    assert re.findall(r'data-kind="([a-z_]+)"', exceptions) == ["break_glass"]
    assert "no post-hoc request yet" in exceptions and "Outage." in exceptions
    assert section(home(client, cast.ben), "exceptions") is None or "Retail Scorecard" not in section(
        home(client, cast.ben), "exceptions"
    )

    record.closed_at = timezone.now()
    record.save(update_fields=["closed_at"])
    assert 'data-kind="break_glass"' not in (section(home(client, cast.vera), "exceptions") or "")


def test_overdue_validations_show_only_visible_models_and_not_retired_ones(client, cast, models):
    long_ago = timezone.localdate() - timedelta(days=30)
    RegisteredModel.objects.filter(pk__in=[models.scorecard.pk, models.detector.pk]).update(
        next_validation_due=long_ago
    )
    RegisteredModel.objects.create(name="Old Model", slug="old-model", team=cast.team_a, risk_tier="low",
                                   lifecycle_status="retired", next_validation_due=long_ago)  # fmt: skip

    vera = section(home(client, cast.vera), "overdue")
    assert "Retail Scorecard" in vera and "Card Fraud Detector" not in vera and "Old Model" not in vera
    ben = section(home(client, cast.ben), "overdue")
    assert "Card Fraud Detector" in ben and "Retail Scorecard" not in ben


# --- the state of things -------------------------------------------------------------------------------------------


def test_sync_and_observation_health_shows_only_the_users_teams(client, cast, envs):  # noqa: F811
    failed_repository(cast.team_a, "credit-models", "could not read govportal.yaml")
    failed_repository(cast.team_b, "fraud-models", "authentication failed for fraud")
    GitRepository.objects.create(name="fine", url="https://github.com/acme/fine.git", team=cast.team_a,
                                 last_sync_status=SyncStatus.SUCCEEDED)  # fmt: skip
    target(cast.team_a, envs.production, "credit-prod", last_status=TargetStatus.UNKNOWN, last_error="timed out")
    target(cast.team_b, envs.production, "fraud-prod", last_status=TargetStatus.UNKNOWN, last_error="HTTP 503")
    target(cast.team_a, envs.staging, "credit-staging", last_status=TargetStatus.OK)

    dana = section(home(client, cast.dana), "health")
    assert "credit-models" in dana and "could not read govportal.yaml" in dana
    assert "credit-prod" in dana and "timed out" in dana
    assert "fraud" not in dana and "HTTP 503" not in dana
    assert "fine" not in dana and "credit-staging" not in dana

    ben = section(home(client, cast.ben), "health")
    assert "fraud-models" in ben and "fraud-prod" in ben and "HTTP 503" in ben and "credit" not in ben


def test_health_says_all_is_well_when_nothing_failed(client, cast):
    assert 'id="health-ok"' in section(home(client, cast.vera), "health")


def test_recent_deployments_are_the_newest_intervals_the_user_may_see(client, cast, models, envs):  # noqa: F811
    credit, fraud = target(cast.team_a, envs.production, "credit-prod"), target(cast.team_b, envs.production, "fp")
    now = timezone.now()
    running(credit, models.scorecard.versions.get(version="1.0.0"), now - timedelta(days=3))
    running(credit, models.scorecard.versions.get(version="1.1.0"), now - timedelta(hours=2))
    running(fraud, models.detector.versions.get(), now - timedelta(hours=1))
    drift(models.scorecard, envs.production, DriftStatus.UNAPPROVED)

    rita = section(home(client, cast.rita), "recent-deployments")
    assert "Card Fraud Detector" not in rita
    versions = re.findall(r'<span class="text-muted">([\d.]+)</span>', rita)
    assert versions == ["1.1.0", "1.0.0"]
    assert "Unapproved" in rita
    assert "Retail Scorecard" not in section(home(client, cast.ben), "recent-deployments")


# --- the charts ----------------------------------------------------------------------------------------------------


@pytest.fixture
def history(cast, models, envs, monkeypatch):  # noqa: F811
    """Closed requests and drift changes over the weeks (weeks ago: 0 is this one):

    requests of Retail Scorecard (team A)    0: 2 approved for production (2 h, 4 h), 1 rejected
                                              1: 1 approved for production (10 h), 1 cancelled, 1 expired
                                              3: 2 approved for staging (1 h, 3 h)
                                             13: 1 approved for production (100 h): before the charts begin
    request of Card Fraud Detector (team B)  0: 1 approved for production (50 h)
    drift of Retail Scorecard in production  20: unapproved (opened) · 5: in sync (closed) · 3: digest mismatch
                                              (opened), then unknown (one exception becoming another)
    drift of Card Fraud Detector             2: unapproved (opened)
    """
    v1 = models.scorecard.versions.get(version="1.0.0")
    fraud = models.detector.versions.get()
    production, staging = envs.production, envs.staging
    at = lambda weeks_ago, minutes=1: week_start(weeks_ago) + timedelta(minutes=minutes)  # noqa: E731
    for hours in (2, 4):
        closed(v1, production, RequestState.APPROVED, at(0), timedelta(hours=hours))
    closed(v1, production, RequestState.REJECTED, at(0))
    closed(v1, production, RequestState.APPROVED, at(1), timedelta(hours=10))
    closed(v1, production, RequestState.CANCELLED, at(1))
    closed(v1, production, RequestState.EXPIRED, at(1))
    for hours in (1, 3):
        closed(v1, staging, RequestState.APPROVED, at(3), timedelta(hours=hours))
    closed(v1, production, RequestState.APPROVED, at(13), timedelta(hours=100))
    closed(fraud, production, RequestState.APPROVED, at(0), timedelta(hours=50), requester=cast.ben)
    model = models.scorecard
    drift_event(monkeypatch, model, production, None, DriftStatus.UNAPPROVED, at(20))
    drift_event(monkeypatch, model, production, DriftStatus.UNAPPROVED, DriftStatus.IN_SYNC, at(5))
    drift_event(monkeypatch, model, production, DriftStatus.IN_SYNC, DriftStatus.DIGEST_MISMATCH, at(3))
    drift_event(monkeypatch, model, production, DriftStatus.DIGEST_MISMATCH, DriftStatus.UNKNOWN, at(3, 5))
    drift_event(monkeypatch, models.detector, production, None, DriftStatus.UNAPPROVED, at(2))


def test_the_requests_chart_counts_each_weeks_outcomes(client, cast, history):
    rows = table(home(client, cast.rita), "chart-requests-table")

    assert rows[0] == ["Week starting", "Approved", "Rejected", "Cancelled", "Expired"]
    expected = {0: ["2", "1", "0", "0"], 1: ["1", "0", "1", "1"], 3: ["2", "0", "0", "0"]}
    assert rows[1:] == [[week_label(ago), *expected.get(ago, ["0"] * 4)] for ago in range(11, -1, -1)]
    # ben sees Fraud's one approval this week, and none of Credit Risk's
    fraud = table(home(client, cast.ben), "chart-requests-table")
    assert fraud[-1] == [week_label(0), "1", "0", "0", "0"] and all(row[1:] == ["0"] * 4 for row in fraud[1:-1])


def test_the_approval_time_chart_gives_the_median_per_environment(client, cast, history):
    rows = table(home(client, cast.rita), "chart-approval-time-table")

    assert rows == [
        ["Environment", "Median", "Requests approved"],
        ["staging", "2 h", "2 approved"],
        ["production", "4 h", "3 approved"],
    ]
    production = table(home(client, cast.admin), "chart-approval-time-table")[-1]
    assert production == ["production", "7 h", "4 approved"]  # (4 h + 10 h) / 2 with Fraud's 50 h


def test_the_exceptions_chart_replays_the_drift_events_week_by_week(client, cast, history):
    rows = table(home(client, cast.audrey), "chart-exceptions-table")

    assert rows[0] == ["Week starting", "Exceptions open"]
    # open since week 20, closed in week 5, opened again in week 3 (then only changed kind)
    assert rows[1:] == [[week_label(ago), "1" if ago > 5 or ago <= 3 else "0"] for ago in range(11, -1, -1)]
    admin = table(home(client, cast.admin), "chart-exceptions-table")
    assert [row[1] for row in admin[-3:]] == ["2", "2", "2"]  # Fraud's since week 2


def test_the_charts_are_inline_svg_without_style_attributes_or_scripts(client, cast, history):
    page = text(home(client, cast.rita))

    assert page.count('<svg class="chart-svg"') == 3
    assert not re.search(r"<svg[^>]*\sstyle=|<(rect|circle|text|polyline)[^>]*\sstyle=", page)
    assert "<script>" not in page and "<style" not in page


def test_chart_labels_are_escaped():
    from apps.dashboard import charts

    chart = charts.horizontal_bars(
        id="c", title="t", labels=["<b>prod</b>"], durations=[timedelta(hours=1)], extra=["1 approved"],
        header="Environment", value_header="Median", extra_header="Requests approved",
    )  # fmt: skip

    assert "<b>" not in chart.svg and "&lt;b&gt;prod&lt;/b&gt;" in chart.svg


# --- a constant number of queries ----------------------------------------------------------------------------------

# The session and the user 2; the navigation 2 (the Approvals badge; the roles, read once a request, which also
# answer the audit link and the page's role checks); the page 18: the
# model counts 1, open exceptions 4 (drift and break-glass: rows and a count each), waiting steps 2, own requests 3
# (count, rows, their open steps), overdue validations 1, failing repositories 1, unknown targets 1, recent
# deployments 1, the charts 4.
QUERIES = 22


def grow(cast, environments, count: int, start: int):
    """`count` more of everything the page lists, all in Credit Risk, where alice is admin."""
    credit = DeploymentTarget.objects.filter(name="credit-prod").first() or target(
        cast.team_a, environments.production, "credit-prod", last_status=TargetStatus.OK
    )
    overdue = timezone.localdate() - timedelta(days=10)
    for n in range(start, start + count):
        model = RegisteredModel.objects.create(name=f"Model {n:03d}", slug=f"model-{n:03d}", team=cast.team_a,
                                               risk_tier="high", next_validation_due=overdue)  # fmt: skip
        version = ModelVersion.objects.create(model=model, version="1.0.0")
        pending_for_team(version, environments.production, cast.dana)  # waits for alice
        pending_for_team(version, environments.staging, cast.alice)  # alice's own
        closed(version, environments.production, RequestState.APPROVED, timezone.now() - timedelta(days=n % 60))
        drift(model, environments.production, DriftStatus.UNAPPROVED)
        running(credit, version)
        failed_repository(cast.team_a, f"repo-{n:03d}", "fetch failed")
        target(
            cast.team_a, environments.staging, f"target-{n:03d}", last_status=TargetStatus.UNKNOWN, last_error="down"
        )


def test_the_page_makes_the_same_number_of_queries_whatever_the_data(
    client,
    cast,
    envs,  # noqa: F811
    django_assert_num_queries,
):
    client.force_login(cast.alice)
    grow(cast, envs, 3, start=0)
    client.get("/")  # caches warmed (content types, permissions)
    with django_assert_num_queries(QUERIES) as small:
        small_page = client.get("/")

    grow(cast, envs, 27, start=3)
    client.get("/")
    with django_assert_num_queries(QUERIES) as large:
        large_page = client.get("/")

    assert len(small.captured_queries) == len(large.captured_queries)
    assert total(small_page, "waiting") == 3 and total(large_page, "waiting") == 30
    for key in ("waiting", "mine", "exceptions", "overdue"):
        assert total(large_page, key) == 30, key
        assert "and 20 more" in section(large_page, key), key


def test_the_median_without_percentile_cont_is_the_same(cast, history, monkeypatch):
    """SQLite (`make run`) has no percentile_cont: the selector takes the median in Python, with the same result."""
    from apps.approvals import selectors

    since = week_start(11)
    in_database = selectors.approval_time_by_environment(user=cast.admin, since=since)
    monkeypatch.setattr(selectors, "connections", {"default": SimpleNamespace(vendor="sqlite")})
    in_python = selectors.approval_time_by_environment(user=cast.admin, since=since)

    assert in_python == in_database
    assert [(row.environment, row.median, row.count) for row in in_python] == [
        ("staging", timedelta(hours=2), 2), ("production", timedelta(hours=7), 4),
    ]  # fmt: skip
