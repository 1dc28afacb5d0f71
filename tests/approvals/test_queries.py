"""Query budgets: the inbox and the request page run the same number of queries for one row or many.

Budgets include the layout's own queries (session, user, navigation badge, roles). When a page
legitimately gains a query, raise its budget in the same change and say why.
"""

import pytest

from apps.accounts.models import Membership, Role
from apps.approvals import services
from apps.audit.actors import Actor
from apps.core import keyset
from apps.inventory import services as inventory
from tests.conftest import DIGEST, make_user

from .conftest import MODEL_CARD, request_production

SIZES = [1, 12]
INBOX_BUDGET = 5  # the roles are read once a request; the badge is the length of the waiting list itself
REQUEST_PAGE_BUDGET = (
    14  # + whether the requester may still submit or withdraw, + the rollouts panel, + the history count
)


def measure(client, url, budget, django_assert_max_num_queries):
    client.get(url)  # warm process-wide caches (content types, permissions) so only the page itself is counted
    with django_assert_max_num_queries(budget):
        response = client.get(url)
    assert response.status_code == 200
    return response


@pytest.fixture
def many_requests(cast, envs, scorecard):
    """`size` pending production requests by dana, each for its own version of Retail Scorecard."""

    def populate(size):
        requests = []
        for number in range(size):
            version = inventory.model_version_create(
                actor=Actor.of(cast.dana), model=scorecard, version=f"3.{number}.0", artifact_digest=DIGEST,
                metrics={"auc": 0.9}, model_card=MODEL_CARD,
            )  # fmt: skip
            requests.append(request_production(cast, version, envs))
        return requests

    return populate


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["rita", "dana", "admin"])
def test_the_inbox_runs_a_fixed_number_of_queries(
    client, cast, many_requests, django_assert_max_num_queries, size, name
):
    many_requests(size)
    client.force_login(getattr(cast, name))

    response = measure(client, "/approvals/", INBOX_BUDGET, django_assert_max_num_queries)

    assert len(response.context["waiting"]) == (size if name == "rita" else 0)
    assert len(response.context["mine"]) == (size if name == "dana" else 0)


@pytest.fixture
def decided_request(cast, envs, scorecard):
    """A staging request (one unsigned step, so decisions run inside the test's transaction) with `size` approvals,
    and an approved earlier version as the evidence baseline."""

    def populate(size):
        extra = [make_user(f"approver{n:02d}") for n in range(size)]
        for user in extra:
            Membership.objects.create(user=user, team=cast.team_a, role=Role.APPROVER)
        services.policy_save(
            actor=Actor.of(cast.admin), name="Staging review", environment=envs.staging, risk_tiers=["high"],
            steps=[{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": size + 1,
                    "requires_signature": False}],
        )  # fmt: skip
        old, new = scorecard.versions.order_by("version")
        baseline = services.request_deployment(actor=Actor.of(cast.dana), version=old, environment=envs.staging,
                                               justification="Baseline.")  # fmt: skip
        for user in [cast.rita, *extra]:
            services.deployment_request_decide(actor=Actor.of(user), request=baseline, outcome="approve")
        request = services.request_deployment(actor=Actor.of(cast.dana), version=new, environment=envs.staging,
                                              justification="Next.")  # fmt: skip
        for user in extra:
            services.deployment_request_decide(actor=Actor.of(user), request=request, outcome="approve",
                                               comment=f"Fine by {user.username}.")  # fmt: skip
        return request

    return populate


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["rita", "dana", "vera", "admin"])
def test_the_request_page_runs_a_fixed_number_of_queries(
    client, cast, decided_request, django_assert_max_num_queries, size, name
):
    request = decided_request(size)
    client.force_login(getattr(cast, name))

    response = measure(client, f"/approvals/requests/{request.pk}/", REQUEST_PAGE_BUDGET, django_assert_max_num_queries)

    page = response.content.decode()
    assert page.count('class="signature ') == size
    assert response.context["evidence"]["baseline"] is not None
    assert ('id="decide"' in page) == (name == "rita")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["vera", "rita"])
def test_the_request_list_runs_a_fixed_number_of_queries_and_never_counts_past_its_cap(
    cast, many_requests, client, django_assert_max_num_queries, size, name
):
    many_requests(size)
    client.force_login(getattr(cast, name))

    # 8: the layout's (session, user, badge, roles), the environments filter, the page and its capped count.
    client.get("/approvals/requests/")  # warm process-wide caches
    with django_assert_max_num_queries(8) as queries:
        response = client.get("/approvals/requests/")

    assert len(response.context["page"]) == size
    assert not any("OFFSET" in query["sql"] or "DISTINCT" in query["sql"] for query in queries.captured_queries)
    sqls = [query["sql"] for query in queries.captured_queries]
    assert any("COUNT(*)" in sql and f"LIMIT {keyset.COUNT_CAP + 1}" in sql for sql in sqls)
    assert not any(sql.startswith('SELECT COUNT(*) AS "__count" FROM "approvals_deploymentrequest"') for sql in sqls)
