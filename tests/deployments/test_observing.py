"""The workers' side: which targets beat observes, one observation per target at a time, retries, Observe now."""

import socket
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.deployments import services, tasks
from apps.deployments.models import DeploymentTarget, TargetStatus
from apps.deployments.observing import ADVISORY_NAMESPACE, TransientTargetError, observe_target
from tests.conftest import Trail, needs_postgres

from .conftest import DIGEST_A, add_target, manifest


@pytest.fixture
def three_targets(cast, envs, gitops):
    gitops.commit("Deploy", {"prod/a.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    due = add_target(cast, envs, gitops, name="due")
    fresh = add_target(cast, envs, gitops, name="fresh")
    off = add_target(cast, envs, gitops, name="off")
    now = timezone.now()
    DeploymentTarget.objects.filter(pk=due.pk).update(last_observed_at=now - timedelta(seconds=301))
    DeploymentTarget.objects.filter(pk=fresh.pk).update(last_observed_at=now - timedelta(seconds=10))
    DeploymentTarget.objects.filter(pk=off.pk).update(enabled=False)
    return due, fresh, off


def test_beat_observes_only_enabled_targets_whose_interval_has_passed(cast, three_targets):
    due = three_targets[0]

    assert tasks.observe_due_targets_task() == 1  # eager: the queued observation ran at once

    statuses = dict(DeploymentTarget.objects.values_list("name", "last_status"))
    assert statuses == {"due": TargetStatus.OK, "fresh": TargetStatus.NEVER, "off": TargetStatus.NEVER}
    assert DeploymentTarget.objects.get(pk=due.pk).observe_queued_at is None


def test_a_target_being_observed_elsewhere_is_not_observed_twice(cast, three_targets):
    needs_postgres()
    import psycopg2

    due = three_targets[0]
    settings_dict = connection.settings_dict
    other = psycopg2.connect(dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"],
                             port=settings_dict["PORT"] or 5432)  # fmt: skip
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, due.pk])
        assert observe_target(due.pk) is None
    finally:
        other.close()  # a closed session frees its lock, as a killed worker's does
    assert observe_target(due.pk).last_status == TargetStatus.OK


def test_a_refused_connection_is_transient_and_the_target_says_unknown_meanwhile(cast, envs):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with transaction.atomic():
        target = services.target_save(
            actor=Actor.of(cast.admin), name="down", environment=envs.production, team=cast.team_a,
            kind="gitops", config={"url": f"https://127.0.0.1:{port}/deploy.git", "paths": ["*.yaml"]},
        )  # fmt: skip

    with pytest.raises(TransientTargetError):
        observe_target(target.pk)
    assert tasks.observe_target_task.delay(target.pk).get() == "unknown"  # in-process: recorded, not retried

    target.refresh_from_db()
    assert target.last_status == TargetStatus.UNKNOWN
    assert f"127.0.0.1:{port}" in target.last_error and "could not read the repository" in target.last_error


def test_observe_now_is_audited_and_joins_a_waiting_request(cast, envs, gitops, django_capture_on_commit_callbacks):
    gitops.commit("Deploy", {"prod/a.yaml": manifest("retail-scorecard", "1.0.0", DIGEST_A)})
    target = add_target(cast, envs, gitops)
    trail = Trail()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.target_request_observe(actor=Actor.of(cast.alice), target=target) is True
    DeploymentTarget.objects.filter(pk=target.pk).update(observe_queued_at=timezone.now())
    assert services.target_request_observe(actor=Actor.of(cast.alice), target=target) is False

    events = trail.events(action="target.observe_requested")
    assert [(e.actor_label, e.changes["coalesced"][1]) for e in events] == [("alice", False), ("alice", True)]
    assert DeploymentTarget.objects.get(pk=target.pk).last_status == TargetStatus.OK


@pytest.mark.parametrize("name", ["vera", "dana", "ben"])
def test_observe_now_is_refused_to_all_but_the_operating_teams_admins(cast, envs, gitops, name):
    target = add_target(cast, envs, gitops)
    trail = Trail()
    with pytest.raises(PermissionDenied):
        services.target_request_observe(actor=Actor.of(getattr(cast, name)), target=target)
    assert trail.actions() == []


def test_a_disabled_target_is_not_observed_on_request(cast, envs, gitops):
    target = add_target(cast, envs, gitops)
    DeploymentTarget.objects.filter(pk=target.pk).update(enabled=False)
    target.refresh_from_db()
    with pytest.raises(ValidationError, match="disabled"):
        services.target_request_observe(actor=Actor.of(cast.alice), target=target)
