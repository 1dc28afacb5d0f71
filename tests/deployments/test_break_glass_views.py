"""The break-glass pages: portal admins record, everyone sees only their models' records, bad input writes nothing."""

import pytest
from django.db import transaction

from apps.audit.actors import Actor
from apps.deployments import breakglass
from apps.deployments.models import BreakGlass
from tests.conftest import Trail

NEW = "/deployments/break-glass/new/"


def form(envs, **changes):
    return {"model": "retail-scorecard", "version": "1.1.0", "environment": envs.production.pk,
            "reason": "Outage: the 1.0.0 scorer crashed.", "deploy": ""} | changes  # fmt: skip


@pytest.mark.parametrize("name", ["alice", "dana", "vera", "ben"])
def test_only_portal_admins_may_record_an_emergency_deployment(client, cast, models, envs, name):
    client.force_login(getattr(cast, name))
    trail = Trail()
    assert client.get(NEW).status_code == 403
    response = client.post(NEW, form(envs))
    assert response.status_code == 403
    assert "Only portal administrators record emergency deployments." in response.content.decode()
    assert not BreakGlass.objects.exists() and trail.actions() == []


def test_a_portal_admin_records_one_by_hand_and_it_is_audited(client, cast, models, envs):
    client.force_login(cast.admin)
    trail = Trail()
    response = client.post(NEW, form(envs))
    assert response.status_code == 302 and response.url == "/deployments/break-glass/"
    record = BreakGlass.objects.get()
    assert (record.version.version, record.deployed_by_portal, record.recorded_by) == ("1.1.0", False, cast.admin)
    assert trail.actions() == ["deployment.break_glass"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reason": "   "}, "reason", "This field is required."),
        ({"version": "9.9.9"}, "version", "retail-scorecard has no version 9.9.9."),
        ({"model": "no-such-model"}, "version", "no-such-model has no version 1.1.0."),
        ({"deploy": "on"}, "deploy", "No target in production can deploy"),
        ({"reason": "x" * 5001}, "reason", "at most 5000 characters"),
    ],
)
def test_bad_input_is_explained_and_writes_nothing(client, cast, models, envs, changes, field, message):
    client.force_login(cast.admin)
    trail = Trail()
    response = client.post(NEW, form(envs, **changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert message in " ".join(response.context["form"].errors[field])
    assert not BreakGlass.objects.exists() and trail.actions() == []


def test_the_list_shows_each_person_only_their_teams_records_open_first(client, cast, models, envs):
    with transaction.atomic():
        breakglass.break_glass_record(
            actor=Actor.of(cast.admin),
            version=models.scorecard.versions.first(),
            environment=envs.production,
            reason="Credit outage.",
            deploy=False,
        )
        breakglass.break_glass_record(actor=Actor.of(cast.admin), version=models.detector.versions.first(),
                                      environment=envs.production, reason="Fraud wave.", deploy=False)  # fmt: skip
    client.force_login(cast.vera)
    text = client.get("/deployments/break-glass/").content.decode()
    assert "Credit outage." in text and "Fraud wave." not in text
    assert 'id="record-break-glass"' not in text
    client.force_login(cast.ben)
    text = client.get("/deployments/break-glass/").content.decode()
    assert "Fraud wave." in text and "Credit outage." not in text
    client.force_login(cast.vera)
    matrix = client.get("/deployments/").content.decode()
    assert 'id="open-break-glass"' in matrix and "no post-hoc request yet" in matrix
