"""The navigation's badge (waiting_count) counts exactly the steps the inbox lists (waiting_for), for every kind of
step, decision and requester: the badge is written in SQL of its own, the inbox through the ORM."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.approvals import selectors, services
from apps.audit.actors import Actor

from .conftest import decide, request_production


def badges(cast) -> dict[str, tuple[int, int]]:
    """username → (the badge's count, the inbox's count), for everyone in the cast."""
    people = ("dana", "rita", "sam", "bo", "audrey", "vera", "alice", "ben", "admin")
    return {
        name: (
            selectors.waiting_count(user=getattr(cast, name)),
            selectors.waiting_for(user=getattr(cast, name)).count(),
        )
        for name in people
    }


@pytest.mark.django_db(transaction=True)  # signed decisions check the password outside a transaction
def test_the_badge_counts_what_the_inbox_lists_for_every_kind_of_step(cast, envs, v1, v2):
    services.policy_save(
        actor=Actor.of(cast.admin), name="Staging", environment=envs.staging,
        steps=[{"name": "Team review", "approver_kind": "team", "team": cast.team_a, "quorum": 1}],
    )  # fmt: skip
    # A role step (two approvers of Credit Risk), rita has decided: it waits for sam and bo, not rita.
    partly = request_production(cast, v1, envs)
    decide(cast.rita, partly)
    # Past its role step: the named step waits for bo alone.
    named = request_production(cast, v2, envs)
    decide(cast.rita, named)
    decide(cast.sam, named)
    # A team step, requested by alice (who could approve for the team, but not her own request).
    services.request_deployment(
        actor=Actor.of(cast.alice), version=v1, environment=envs.staging, justification="Team step."
    )
    # Withdrawn: it waits for nobody.
    withdrawn = services.request_deployment(
        actor=Actor.of(cast.dana), version=v2, environment=envs.staging, justification="Withdrawn."
    )
    services.deployment_request_cancel(actor=Actor.of(cast.dana), request=withdrawn, reason="Not needed.")

    counted = badges(cast)

    assert all(badge == inbox for badge, inbox in counted.values()), counted
    assert {name: badge for name, (badge, _) in counted.items()} == {
        "dana": 0, "rita": 1, "sam": 2, "bo": 3, "audrey": 0, "vera": 0, "alice": 0, "ben": 0, "admin": 0,
    }  # fmt: skip


def test_the_badge_is_one_query_and_nothing_for_those_who_cannot_decide(cast, envs, v1):
    request_production(cast, v1, envs)
    selectors.waiting_count(user=cast.sam)  # reads sam's roles (once per web request on a page)

    with CaptureQueriesContext(connection) as queries:
        count = selectors.waiting_count(user=cast.sam)

    assert count == 1 and len(queries) <= 2
    assert selectors.waiting_count(user=AnonymousUser()) == 0
    cast.sam.is_active = False
    assert selectors.waiting_count(user=cast.sam) == 0
