"""Deployment reads: the matrix (who sees which rows, exceptions above them, cursor pages) and the point-in-time
answer over a scripted history with a gap and a rollback."""

from datetime import timedelta

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from apps.core import keyset
from apps.deployments import selectors
from apps.inventory.models import ModelVersion, RegisteredModel

from .history import at, extra_models, interval, scripted, status, target


def matrix_names(user, **filters):
    return [row.model.name for row in selectors.drift_matrix(user=user, **filters).page]


def exception_names(user, **filters):
    return [row.model.name for row in selectors.drift_matrix(user=user, **filters).exceptions]


@pytest.fixture(params=["sparse", "dense"])
def plan(request, monkeypatch):
    """Both ways the matrix finds present models: from their few presence rows, or by walking models by name."""
    if request.param == "dense":
        monkeypatch.setattr(selectors, "SPARSE_ROWS", 0)
    return request.param


@pytest.fixture
def churn(cast, envs):
    """A second Credit Risk model, named before Retail Scorecard, approved and running 2.0 in sync in production."""
    from .history import approved

    model = RegisteredModel.objects.create(name="Churn Predictor", slug="churn-predictor", team=cast.team_a,
                                           risk_tier="medium")  # fmt: skip
    version = ModelVersion.objects.create(model=model, version="2.0")
    approved(cast, version, envs.production, 0)
    return model


def test_the_matrix_lists_exceptions_above_models_by_name_and_only_models_the_user_may_view(
    cast, models, envs, churn, plan
):
    on = target(cast, envs.production)
    interval(on, churn.versions.get(), 1)
    status(churn, envs.production, "in_sync")
    interval(on, models.scorecard.versions.get(version="1.1.0"), 2)
    status(models.scorecard, envs.production, "unapproved", "1.1.0 runs on prod-gitops with no approved request.")
    fraud = target(cast, envs.production, name="fraud-serving", team=cast.team_b)
    interval(fraud, models.detector.versions.get(), 1)
    status(models.detector, envs.production, "digest_mismatch")

    # Every present model by name, and the exceptions again above them: first however long the list is.
    assert matrix_names(cast.vera) == ["Churn Predictor", "Retail Scorecard"]
    assert exception_names(cast.vera) == ["Retail Scorecard"]
    assert matrix_names(cast.ben) == exception_names(cast.ben) == ["Card Fraud Detector"]
    assert matrix_names(cast.admin) == ["Card Fraud Detector", "Churn Predictor", "Retail Scorecard"]
    assert exception_names(cast.admin) == ["Card Fraud Detector", "Retail Scorecard"]
    assert exception_names(cast.admin, team="credit-risk") == ["Retail Scorecard"]
    assert matrix_names(cast.vera, status="in_sync") == ["Churn Predictor"]
    assert exception_names(cast.vera, status="in_sync") == []  # a status filter is the whole answer
    assert matrix_names(cast.admin, status=selectors.ANY_EXCEPTION, team="fraud") == ["Card Fraud Detector"]
    assert matrix_names(cast.vera, environment="staging") == exception_names(cast.vera, environment="staging") == []

    [_churn, row] = selectors.drift_matrix(user=cast.vera).page
    cell = {c.environment.slug: c for c in row.cells}["production"]
    assert (cell.status, cell.running_versions, cell.approved, cell.is_exception) == ("unapproved", ["1.1.0"], None,
                                                                                      True)  # fmt: skip
    assert cell.observed and not {c.environment.slug: c for c in row.cells}["staging"].observed


def test_a_model_shared_with_one_person_is_in_their_matrix(cast, models, envs, plan):
    from apps.accounts import services as accounts
    from apps.audit.actors import Actor

    status(models.detector, envs.production, "unknown")
    accounts.object_permission_grant(actor=Actor.of(cast.ben), user=cast.vera, obj=models.detector, action="view")

    assert "Card Fraud Detector" in matrix_names(cast.vera)
    assert "Card Fraud Detector" in exception_names(cast.vera)


def present_names() -> set[str]:
    """Every model that runs, is approved or has a status somewhere, read the slow way."""
    from apps.approvals.models import DeploymentRequest
    from apps.deployments.models import DriftState, Running

    ids = {*DriftState.objects.values_list("model_id", flat=True)}
    ids |= {*Running.objects.current().values_list("model_id", flat=True)}
    ids |= {*DeploymentRequest.objects.filter(state="approved").values_list("model_id", flat=True)}
    return set(RegisteredModel.objects.filter(pk__in=ids).values_list("name", flat=True))


def test_paging_with_the_cursor_lists_every_present_model_once_by_name(cast, models, envs, plan):
    extra_models(cast, 7, envs.production, target(cast, envs.production), value="in_sync")
    RegisteredModel.objects.create(name="Never Deployed", slug="never-deployed", team=cast.team_a, risk_tier="low")

    seen, cursor, pages = [], None, 0
    while True:
        page = selectors.drift_matrix(user=cast.admin, cursor=cursor, per_page=3).page
        seen += [row.model.name for row in page]
        pages += 1
        if not page.has_next:
            break
        cursor = page.next_cursor

    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(seen) == present_names() and "Never Deployed" not in seen
    assert pages == -(-len(seen) // 3) and page.count_label == str(len(seen))


def test_the_count_stops_at_the_cap(cast, models, envs, plan, monkeypatch):
    monkeypatch.setattr(keyset, "COUNT_CAP", 4)
    extra_models(cast, 5, envs.production, target(cast, envs.production), value="in_sync")

    page = selectors.drift_matrix(user=cast.admin).page
    assert (page.count, page.count_capped, page.count_label) == (4, True, "4+")


def test_the_exceptions_section_shows_the_first_ones_and_says_there_are_more(cast, models, envs, plan, monkeypatch):
    monkeypatch.setattr(selectors, "EXCEPTIONS_SHOWN", 2)
    on = target(cast, envs.production)
    extra_models(cast, 3, envs.production, on, value="unapproved")
    extra_models(cast, 2, envs.production, on, value="in_sync")

    matrix = selectors.drift_matrix(user=cast.admin)
    assert [row.model.name for row in matrix.exceptions] == ["Extra 000", "Extra 001"] and matrix.more_exceptions
    assert all(row.has_exception for row in matrix.exceptions)


def test_the_point_in_time_answer_follows_the_scripted_history(cast, models, envs):
    h = scripted(cast, models, envs)

    def ask(hours):
        return selectors.deployed_at(user=cast.vera, model=models.scorecard, environment=envs.production,
                                     moment=at(hours))  # fmt: skip

    before_anything = ask(0.5)
    assert before_anything.gap and before_anything.before is None and before_anything.after == h.r1
    assert "nothing had run there before" in before_anything.summary

    first = ask(2)
    [running] = first.running
    assert (running.interval, running.interval.started_at, running.interval.commit_sha) == (h.r1, at(1), "c1" * 20)
    assert running.approval.request == h.a1 and running.rollback_from is None
    assert (running.approval.policy_name, running.approval.policy_revision) == ("Production high risk", 3)
    assert [d.username for d in running.approval.approvers] == ["rita"]

    unapproved = ask(3.5)  # 1.1.0 ran before its request was approved
    assert unapproved.running[0].interval == h.r2 and unapproved.running[0].approval is None
    assert "no approval for this version in this environment was in force then" in unapproved.summary

    approved = ask(6)
    assert approved.running[0].approval.request == h.a2 and approved.running[0].approval.policy_revision == 4
    assert [d.username for d in approved.running[0].approval.approvers] == ["sam"]

    assert ask(3).running[0].interval == h.r2  # at the very moment one replaced the other: the new one

    gap = ask(9)
    assert gap.gap and (gap.before, gap.after) == (h.r2, h.r3)
    assert gap.summary == (
        f"Nothing ran for Retail Scorecard in production at {at(9):%Y-%m-%d %H:%M:%S} UTC: before it, 1.1.0 (on "
        f"prod-gitops) ran until {at(8):%Y-%m-%d %H:%M:%S} UTC; after it, 1.0.0 (on prod-gitops) ran from "
        f"{at(10):%Y-%m-%d %H:%M:%S} UTC."
    )

    rollback = ask(11)
    [running] = rollback.running
    assert (running.interval, running.interval.started_at) == (h.r3, at(10))  # since it came back, not since hour 1
    assert running.rollback_from == "1.1.0" and running.approval.request == h.a1
    assert rollback.before == h.r2 and rollback.after is None
    assert "a rollback from 1.1.0" in rollback.summary and "revision 3" in rollback.summary


def test_the_point_in_time_answer_is_404_for_a_model_the_user_may_not_view(cast, models, envs):
    scripted(cast, models, envs)
    with pytest.raises(Http404):
        selectors.deployed_at(user=cast.ben, model=models.scorecard, environment=envs.production, moment=at(2))


def test_the_point_in_time_answer_takes_the_same_queries_however_long_the_history(cast, models, envs):
    h = scripted(cast, models, envs)

    def count():
        with CaptureQueriesContext(connection) as queries:
            selectors.deployed_at(user=cast.vera, model=models.scorecard, environment=envs.production,
                                  moment=at(11))  # fmt: skip
        return len(queries)

    short = count()
    for n in range(30):  # thirty more flips between the versions before the rollback, weeks earlier
        interval(h.target, h.v2 if n % 2 else h.v1, -500 + n, -499 + n)
    assert count() == short <= 7


def test_running_now_lists_open_intervals_by_environment(cast, models, envs):
    h = scripted(cast, models, envs)
    staging = target(cast, envs.staging, name="staging-gitops")
    interval(staging, h.v2, 2)

    assert [r.environment.slug for r in selectors.running_now(model=models.scorecard)] == ["staging", "production"]
    assert list(selectors.running_now(version=h.v1)) == [h.r3]
    with pytest.raises(TypeError):
        selectors.running_now()


def test_targets_are_seen_by_portal_admins_and_the_operating_team(cast, envs):
    credit = target(cast, envs.production)
    fraud = target(cast, envs.production, name="fraud-serving", team=cast.team_b)

    assert list(selectors.target_list(user=cast.vera)) == [credit]
    assert list(selectors.target_list(user=cast.ben)) == [fraud]
    assert set(selectors.target_list(user=cast.admin)) == {credit, fraud}


def test_parse_moment_reads_iso_8601_and_a_browser_offset(cast):
    from django.core.exceptions import ValidationError

    from apps.deployments.forms import parse_moment

    assert parse_moment("2026-03-01T12:00:00Z") == parse_moment("2026-03-01T14:00:00+02:00")
    assert parse_moment("2026-03-01T14:00", offset_minutes=-120) == at(0).replace(
        year=2026, month=3, day=1, hour=12, minute=0, second=0
    )
    refused = [("", "Give a date and time"), ("yesterday", "is not a date and time"),
               ("2026-13-01T00:00", "is not a date and time"), ("9999-12-31T23:59:59", "in the future")]  # fmt: skip
    for bad, message in refused:
        with pytest.raises(ValidationError, match=message):
            parse_moment(bad)
    with pytest.raises(ValidationError):
        parse_moment("0001-01-01T00:00", offset_minutes=-600)
    assert parse_moment((at(0) + timedelta(minutes=1)).isoformat()) == at(0) + timedelta(minutes=1)


def test_the_latest_approval_of_each_cell_is_the_last_closed_then_the_highest_number(cast, models, envs):
    """What should run in each (model, environment): the approval closed last; among approvals closed at once, the
    later one; one with no closing time only when there is no other. Rejected requests never count."""
    from apps.approvals.models import DeploymentRequest, RequestState

    from .history import approved

    scorecard = models.scorecard
    v1, v2 = (ModelVersion.objects.create(model=scorecard, version=v) for v in ("7.1", "7.2"))
    other = ModelVersion.objects.create(model=RegisteredModel.objects.create(
        name="Other", slug="other", team=cast.team_a, risk_tier="low"), version="1")  # fmt: skip
    approved(cast, v1, envs.production, 5)
    tie_first, tie_last = approved(cast, v1, envs.production, 9), approved(cast, v2, envs.production, 9)
    older = approved(cast, v2, envs.staging, 1)
    undated = approved(cast, v1, envs.staging, 2)
    DeploymentRequest.objects.filter(pk=undated.pk).update(closed_at=None)
    rejected = approved(cast, v1, envs.staging, 30)
    DeploymentRequest.objects.filter(pk=rejected.pk).update(state=RequestState.REJECTED)
    only_undated = approved(cast, other, envs.production, 3)
    DeploymentRequest.objects.filter(pk=only_undated.pk).update(closed_at=None)

    ids = [scorecard.pk, other.model_id]
    latest = selectors._latest_approved(ids, [envs.staging.pk, envs.production.pk])
    found = {(r.model_id, r.environment_id): r.pk for r in latest}

    assert tie_first.pk < tie_last.pk
    assert found == {
        (scorecard.pk, envs.production.pk): tie_last.pk,
        (scorecard.pk, envs.staging.pk): older.pk,  # closed, so before the undated one; the rejected one never
        (other.model_id, envs.production.pk): only_undated.pk,
    }
    assert {r.version.version for r in latest} == {"7.2", "1"}  # with the version, read in the same query
