"""A request carries its version's model and team, so that lists can read them without joining versions and models:
however a request is made, they are its version's, and its audit events name the same team and model as before."""

import pytest

from apps.approvals import services
from apps.approvals.models import DeploymentRequest
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent

from .conftest import request_production


def owner(request) -> tuple[int, int]:
    """(model id, team id) as stored on the request's row."""
    return DeploymentRequest.objects.values_list("model_id", "team_id").get(pk=request.pk)


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
