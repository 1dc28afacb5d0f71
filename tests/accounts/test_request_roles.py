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
