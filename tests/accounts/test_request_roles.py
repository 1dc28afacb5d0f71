"""A user's roles are read once per web request, and a role granted or revoked during the request counts at once."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.accounts import permissions, services
from apps.accounts.models import Membership, Role
from apps.audit.actors import Actor
from apps.core import request_context
from apps.core.request_context import RequestContext
from apps.inventory import services as inventory
from apps.inventory.models import RegisteredModel


def _role_reads(queries) -> int:
    """Queries that read someone's memberships themselves (not restrict()'s subqueries inside a list's query)."""
    return sum(
        1 for query in queries.captured_queries if query["sql"].split(" FROM ")[1].startswith('"accounts_membership"')
    )


def test_a_page_reads_the_users_roles_once_for_its_navigation_and_every_button(cast, models, client):
    client.force_login(cast.alice)  # an admin: Edit, lifecycle, sharing and the dossier all ask her role
    client.get("/models/retail-scorecard/")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/models/retail-scorecard/")

    assert _role_reads(queries) == 1
    page = response.content.decode()
    assert "Audit trail" in page and "Share outside the team" in page and "Compliance dossier" in page
    assert "admin · Credit Risk" in page


def test_a_role_granted_or_revoked_during_a_request_counts_at_once(cast, models):
    context = RequestContext(request_id="test-request-roles", source="web")
    tokens = request_context.activate(context, with_memo=True)
    try:
        assert not permissions.can(cast.vera, permissions.CHANGE, models.scorecard)

        membership = services.membership_grant(
            actor=Actor.of(cast.alice), team=cast.team_a, user=cast.vera, role=Role.CONTRIBUTOR
        )
        assert permissions.can(cast.vera, permissions.CHANGE, models.scorecard)
        assert ("Credit Risk", "Contributor") in permissions.role_summary(cast.vera)

        services.membership_revoke(actor=Actor.of(cast.alice), membership=membership)
        assert not permissions.can(cast.vera, permissions.CHANGE, models.scorecard)
        assert not Membership.objects.filter(user=cast.vera, role=Role.CONTRIBUTOR).exists()
    finally:
        request_context.deactivate(tokens)


def test_outside_a_request_roles_are_read_afresh_each_time(cast, models):
    assert request_context.memo() is None
    assert not permissions.can(cast.vera, permissions.CHANGE, models.scorecard)
    Membership.objects.create(user=cast.vera, team=cast.team_a, role=Role.CONTRIBUTOR)
    assert permissions.can(cast.vera, permissions.CHANGE, models.scorecard)


def test_a_service_inside_a_request_checks_roles_against_its_own_transaction(cast, models):
    """A governed change decides on the database as its transaction sees it, not on roles the page read earlier:
    here the role is removed behind the request's back (no signal), and the service still refuses."""
    tokens = request_context.activate(RequestContext(request_id="test-service-roles", source="web"), with_memo=True)
    try:
        assert permissions.can(cast.dana, permissions.CHANGE, models.scorecard)  # kept for the page
        Membership.objects.filter(user=cast.dana).update(role=Role.VIEWER)  # a queryset update sends no signal
        assert permissions.can(cast.dana, permissions.CHANGE, models.scorecard)  # the page still sees the kept role
        with pytest.raises(PermissionDenied), transaction.atomic():
            inventory.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="9.9.9")
        assert not models.scorecard.versions.filter(version="9.9.9").exists()
    finally:
        request_context.deactivate(tokens)


def _scoped(user, web: bool, source: str = "web") -> tuple[list, list]:
    """(team ids for VIEW and for MANAGE_TEAM, the models user may view), read in a request of `source` or outside."""
    tokens = (
        request_context.activate(RequestContext(request_id="test-scope", source=source), with_memo=True)
        if web
        else None
    )
    try:
        teams = [permissions.team_ids_now(user, action) for action in (permissions.VIEW, permissions.MANAGE_TEAM)]
        teams = [
            sorted(ids) if isinstance(ids, list) else sorted(next(iter(row.values())) for row in ids) for ids in teams
        ]
        return teams, list(RegisteredModel.objects.restrict(user).order_by("pk").values_list("name", flat=True))
    finally:
        if tokens:
            request_context.deactivate(tokens)


@pytest.mark.parametrize("name", ["dana", "vera", "alice", "ben"])
def test_a_page_scopes_its_lists_by_the_roles_it_read_as_a_task_does_by_the_database(cast, models, name):
    user = getattr(cast, name)

    assert _scoped(user, web=True) == _scoped(user, web=False)
    assert _scoped(user, web=True)[1] == (["Card Fraud Detector"] if name == "ben" else ["Retail Scorecard"])


def test_a_superuser_and_a_deactivated_user_keep_their_scope_in_a_page(cast, models):
    cast.vera.is_active = False
    cast.vera.save()

    assert _scoped(cast.admin, web=True)[1] == ["Retail Scorecard", "Card Fraud Detector"]
    assert _scoped(cast.vera, web=True) == ([[], []], [])


def test_an_api_call_spends_no_query_on_roles_only_to_scope_a_list(cast, models):
    tokens = request_context.activate(RequestContext(request_id="test-api-scope", source="api"), with_memo=True)
    try:
        with CaptureQueriesContext(connection) as queries:
            names = list(RegisteredModel.objects.restrict(cast.dana).values_list("name", flat=True))
        assert names == ["Retail Scorecard"] and _role_reads(queries) == 0 and len(queries) == 1
        permissions.role_summary(cast.dana)  # the call read the roles for its own reasons: the list uses them
        assert permissions.team_ids_now(cast.dana, permissions.VIEW) == [cast.team_a.pk]
    finally:
        request_context.deactivate(tokens)
