"""Query budgets: a page runs the same number of SQL queries whether it shows five rows or fifty.

Each budget is what the page needs with a handful of rows; the same budget must hold with many
more rows, so an N+1 (a query per row) fails here long before it slows a real inventory down.
Budgets include the layout's own queries (session, user, navigation badges): when a page or the layout
legitimately gains a query, raise the budget in the same change, saying why.
"""

import pytest

from apps.audit.actors import Actor
from apps.core import keyset
from apps.inventory import services

SIZES = [5, 30]


@pytest.fixture
def populate(cast, models):
    """`size` more team A models (owned, tagged, validated) and `size` more versions and updates of Retail Scorecard."""

    def populate(size):
        dana = Actor.of(cast.dana)
        parent = models.scorecard.versions.get(version="1.0.0")
        for number in range(size):
            services.registered_model_register(
                actor=dana, team=cast.team_a, name=f"Model {number:02d}", risk_tier="medium",
                owners=[cast.dana, cast.alice], validator=cast.rita, tags=[f"tag-{number}", "shared"],
            )  # fmt: skip
            services.model_version_create(
                actor=dana, model=models.scorecard, version=f"2.{number}.0", parent=parent, metrics={"auc": 0.8}
            )
            services.registered_model_update(actor=dana, model=models.scorecard, description=f"Revision {number}.")

    return populate


def measure(client, url, budget, django_assert_max_num_queries):
    client.get(url)  # warm process-wide caches (content types, permissions) so only the page itself is counted
    with django_assert_max_num_queries(budget):
        response = client.get(url)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["vera", "admin"])
def test_the_model_list_runs_a_fixed_number_of_queries(
    cast, populate, client, django_assert_max_num_queries, size, name
):
    populate(size)
    client.force_login(getattr(cast, name))

    # 7: session, user; the page of models (tags and counts are on the row) and its capped count; the team filter; the
    # navigation's badge and the roles (read once a request, which also decide the Register button; a superuser's asks
    # whether there is a team).
    response = measure(client, "/models/?sort=risk", 7 + (name == "admin"), django_assert_max_num_queries)

    assert len(response.context["page"]) == min(size + 1 + (name == "admin"), 25)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["vera", "audrey", "admin"])
def test_the_model_page_runs_a_fixed_number_of_queries(
    cast, populate, client, django_assert_max_num_queries, size, name
):
    populate(size)
    client.force_login(getattr(cast, name))

    # 16 at most: the roles behind Edit, lifecycle, sharing, the dossier and the navigation are read once (a person
    # the model is shared with adds guardian's two); the versions are a page (their count is on the model's row); the
    # history a page, its count (none when its first page holds it all: 14 here with 5 rows, 15 with 30) and the
    # links to versions the page does not list; the deployments block and the versions' environment badges four:
    # the environments, the statuses, what runs now, and the approvals.
    response = measure(client, "/models/retail-scorecard/", 16, django_assert_max_num_queries)

    assert len(response.context["versions"]) == min(size + 2, 20)
    assert response.context["versions"].paginator.count == size + 2
    assert len(response.context["history"]) == min(2 * size + 3, 25)
    assert response.context["history_page"].paginator.count == 2 * size + 3


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["audrey", "admin"])
def test_the_audit_list_runs_a_fixed_number_of_queries(
    cast, populate, client, django_assert_max_num_queries, size, name
):
    populate(size)
    client.force_login(getattr(cast, name))

    # 10 at most: session, user, the roles (read once: the navigation, the team filter's choices and the trail's scope
    # use them), the environment filter's choices; the page of events (each with its actor's name) and its capped
    # count; the links to the models and the versions; the navigation's badge. A superuser's team choices are a query.
    response = measure(client, "/audit/", 10, django_assert_max_num_queries)

    page = response.context["page"]
    assert len(page) == min(page.count, 25) and not page.count_capped
    assert all(event.sentence for event in response.context["page"])
    assert all(event.target_url for event in response.context["page"] if event.target_type.startswith("inventory."))


@pytest.mark.parametrize("size", SIZES)
def test_the_version_page_runs_a_fixed_number_of_queries(cast, populate, client, django_assert_max_num_queries, size):
    populate(size)
    client.force_login(cast.vera)

    # 11 at most: the history is a page and its count (none when its first page holds it all, as here: 10; its links to
    # the version itself need no query); the roles are read once; vera's object permission is guardian's two.
    response = measure(client, "/models/retail-scorecard/versions/1.0.0/", 11, django_assert_max_num_queries)

    assert len(response.context["children"]) == size


@pytest.mark.parametrize("size", SIZES)
def test_the_team_pages_run_a_fixed_number_of_queries(cast, populate, client, django_assert_max_num_queries, size):
    populate(size)
    client.force_login(cast.vera)

    measure(client, "/teams/", 8, django_assert_max_num_queries)
    measure(client, "/teams/credit-risk/", 8, django_assert_max_num_queries)


@pytest.mark.parametrize("size", SIZES)
def test_a_deep_page_of_the_model_list_costs_what_the_first_does_and_counts_at_most_the_cap_plus_one_rows(
    cast, populate, client, django_assert_max_num_queries, size
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    populate(size)
    client.force_login(cast.vera)
    client.get("/models/")  # warm caches

    with CaptureQueriesContext(connection) as first:
        response = client.get("/models/?sort=risk")
    while 'rel="next"' in response.text:  # the last page, reached through the Next links
        link = response.text.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
        with CaptureQueriesContext(connection) as deep:
            response = client.get(f"/models/{link}")

    assert len(first) <= 10
    if size > 25:
        assert len(deep) == len(first)
    for queries in [first, *([deep] if size > 25 else [])]:
        sqls = [query["sql"] for query in queries.captured_queries]
        assert not any("OFFSET" in sql for sql in sqls)
        assert any("COUNT(*)" in sql and f"LIMIT {keyset.COUNT_CAP + 1}" in sql for sql in sqls)
        assert not any(sql.startswith('SELECT COUNT(*) AS "__count" FROM "inventory_registeredmodel"') for sql in sqls)


def test_the_model_list_counts_the_models_alone_without_the_joins_that_only_show_a_row(cast, populate, client):
    """The rows show their team, latest version and validator through joins; the count needs none of them (they
    made counting 1,000 models several times dearer), but a team filter's join stays, and every count is right."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    populate(30)
    client.force_login(cast.dana)
    cases = [("", 31), ("team=credit-risk", 31), ("SEARCH=model 0", 10), ("team=nobody", 0)]
    for path, search in [("/api/v1/models/?page_size=5&", "search"), ("/models/?", "q")]:
        for query, expected in cases:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path + query.replace("SEARCH", search))
            assert response.status_code == 200
            sqls = [query["sql"] for query in queries.captured_queries]
            [count_sql] = [sql for sql in sqls if "COUNT(*)" in sql and '"inventory_registeredmodel"' in sql]
            assert count_sql.count(" JOIN ") == (1 if "team=" in query else 0), count_sql
            if path.startswith("/api/"):
                assert response.json()["count"] == expected
            else:
                assert f">{expected} model" in response.text


@pytest.mark.parametrize("size", SIZES)
def test_the_api_model_list_and_one_model_run_a_fixed_number_of_queries(
    cast, populate, client, django_assert_max_num_queries, size
):
    from django.db import connection

    populate(size)
    client.force_login(cast.dana)
    owners = 0 if connection.vendor == "postgresql" else 1  # PostgreSQL reads owners' names on the row, as an array

    # 4: session, user, the page of models (tags, team, validator, latest version and owners' names on the row), and
    # the capped count; the owners' names in one more elsewhere.
    response = measure(client, "/api/v1/models/?page_size=100", 4 + owners, django_assert_max_num_queries)
    rows = response.json()["results"]
    assert len(rows) == size + 1  # team A: the Retail Scorecard and the models populate() made
    shared = next(row for row in rows if row["name"] == "Model 00")
    assert shared["tags"] == ["shared", "tag-0"] and shared["owners"] == ["alice", "dana"]
    # 3: session, user, the model with its owners' names; their names in one more elsewhere.
    response = measure(client, "/api/v1/models/retail-scorecard/", 3 + owners, django_assert_max_num_queries)
    assert response.json()["latest_version"] == f"2.{size - 1}.0" and response.json()["owners"] == ["dana"]


def test_the_api_version_runs_a_fixed_number_of_queries(cast, models, client, django_assert_max_num_queries):
    client.force_login(cast.vera)

    # 3: session, user, and the version with its model, parent and author (restrict() on the version is the model's).
    response = measure(client, "/api/v1/models/retail-scorecard/versions/1.0.0/", 3, django_assert_max_num_queries)

    assert response.json()["model"] == "retail-scorecard" and response.json()["version"] == "1.0.0"
    # Of the joined rows only what the output shows: not the model's team nor its validator, no users' password hashes.
    sql = _last_query(client, "/api/v1/models/retail-scorecard/versions/1.0.0/")
    assert "accounts_team" not in sql and "password" not in sql


def _last_query(client, url) -> str:
    return _last_queries(client, url, 1)[0]


def _last_queries(client, url, count: int) -> list[str]:
    """The SQL of the last `count` queries a GET of `url` runs (a view's own, after the session and the user)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in queries.captured_queries[-count:]]


@pytest.mark.parametrize("size", SIZES)
def test_the_api_versions_of_a_model_run_a_fixed_number_of_queries(
    cast, populate, client, django_assert_max_num_queries, size
):
    populate(size)
    client.force_login(cast.vera)

    # 4: session, user, the model, and the page of its versions (their count is on the model's row).
    response = measure(
        client, "/api/v1/models/retail-scorecard/versions/?page_size=10", 4, django_assert_max_num_queries
    )

    body = response.json()
    assert body["count"] == size + 2 and len(body["results"]) == min(size + 2, 10)
    assert body["results"][0]["version"] == f"2.{size - 1}.0"
    assert all(row["parent"] == "1.0.0" and row["created_by"] == "dana" for row in body["results"][:size])
    # The model is its row alone, and its versions carry of their relations only what the output shows.
    model_sql, versions_sql = _last_queries(client, "/api/v1/models/retail-scorecard/versions/?page_size=10", 2)
    assert " JOIN " not in model_sql and "password" not in versions_sql
