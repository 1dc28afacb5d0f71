"""A request carries its version's model and team, so the request list is scoped without joining versions and models
(100k requests: the list's count went from 13 ms to 3 ms). However a request is made, they are its version's; and
each person still sees exactly the requests they saw before: their teams', their own, those they are named to decide.
"""

import pytest

from apps.accounts.models import Membership
from apps.approvals import services
from apps.approvals.models import DeploymentRequest
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent

from .conftest import request_production


def owner(request) -> tuple[int, int]:
    """(model id, team id) as stored on the request's row."""
    return DeploymentRequest.objects.values_list("model_id", "team_id").get(pk=request.pk)


def visible(user) -> set[int]:
    return set(DeploymentRequest.objects.restrict(user).values_list("pk", flat=True))


def listed(client, user) -> set[int]:
    """The requests /approvals/requests/ shows `user` (a web request: the scope names the teams as literal ids)."""
    client.force_login(user)
    response = client.get("/approvals/requests/")
    assert response.status_code == 200
    return {row.pk for row in response.context["page"].rows}


@pytest.fixture
def fraud_draft(cast, envs, models):
    """ben (admin of Fraud) drafts a request for the detector: a request of team B."""
    return services.deployment_request_create(
        actor=Actor.of(cast.ben), version=models.detector.versions.get(), environment=envs.production,
        justification="Fraud's quarterly refresh.",
    )  # fmt: skip


def test_a_request_made_through_the_services_carries_its_versions_model_and_team_and_so_do_its_events(
    cast, envs, v1, fraud_draft
):
    request = request_production(cast, v1, envs)

    assert owner(request) == (v1.model_id, cast.team_a.pk)
    assert owner(fraud_draft) == (fraud_draft.version.model_id, cast.team_b.pk)
    events = AuditEvent.objects.filter(request_id__in=[request.pk, fraud_draft.pk])
    assert {(event.request_id, event.team_id, event.model_id) for event in events} == {
        (request.pk, cast.team_a.pk, v1.model_id),
        (fraud_draft.pk, cast.team_b.pk, fraud_draft.version.model_id),
    }
    assert {event.action for event in events} >= {"request.created", "request.submitted", "request.step_opened"}


def test_objects_create_fills_them_in_from_the_version(cast, envs, models):
    version = models.detector.versions.get()

    request = DeploymentRequest.objects.create(
        version_id=version.pk, environment=envs.staging, requester=cast.ben, justification="Furniture."
    )

    assert owner(request) == (models.detector.pk, cast.team_b.pk)


def test_bulk_create_fills_them_in_from_the_versions_in_one_query(cast, envs, models, django_assert_num_queries):
    versions = [*models.scorecard.versions.order_by("pk"), models.detector.versions.get()]

    with django_assert_num_queries(2):  # the versions' models and teams, then the insert
        made = DeploymentRequest.objects.bulk_create(
            DeploymentRequest(version_id=version.pk, environment=envs.staging, requester=cast.admin,
                              justification="Bulk.")
            for version in versions
        )  # fmt: skip

    assert [owner(request) for request in made] == [
        (models.scorecard.pk, cast.team_a.pk), (models.scorecard.pk, cast.team_a.pk),
        (models.detector.pk, cast.team_b.pk),
    ]  # fmt: skip


def test_each_team_sees_its_own_requests_and_never_the_other_teams(client, cast, envs, v1, fraud_draft):
    credit = request_production(cast, v1, envs)

    for user, expected in ((cast.ben, {fraud_draft.pk}), (cast.vera, {credit.pk}), (cast.rita, {credit.pk})):
        assert visible(user) == expected, user
        assert listed(client, user) == expected, user
    assert visible(cast.admin) == {credit.pk, fraud_draft.pk}


def test_a_requester_left_without_any_role_still_sees_their_own_request_and_only_that(client, cast, envs, v1, v2):
    own = request_production(cast, v1, envs)
    request_production(cast, v2, envs, who=cast.alice)
    Membership.objects.filter(user=cast.dana).delete()

    assert visible(cast.dana) == {own.pk}
    assert listed(client, cast.dana) == {own.pk}


def test_a_named_approver_outside_the_team_sees_the_request_they_are_asked_to_decide(client, cast, envs, v1, v2):
    named = request_production(cast, v1, envs)  # its second step names bo
    services.deployment_request_create(
        actor=Actor.of(cast.dana), version=v2, environment=envs.staging, justification="Not submitted: no steps yet."
    )
    Membership.objects.filter(user=cast.bo).delete()

    assert visible(cast.bo) == {named.pk}
    assert listed(client, cast.bo) == {named.pk}


def test_the_request_lists_scope_joins_neither_versions_nor_models(cast):
    """What made the list slow at 100k requests: the scope joined every request to its version and model."""
    sql = str(DeploymentRequest.objects.restrict(cast.vera).values("pk").query)

    assert 'JOIN "inventory_modelversion"' not in sql
    assert 'JOIN "inventory_registeredmodel"' not in sql
