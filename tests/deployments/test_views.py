"""Deployment pages: the matrix, the targets and "Observe now", the blocks on the model and version pages, the
point-in-time question, and the admin where portal admins define targets."""

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.core import keyset
from apps.deployments import selectors, services
from apps.deployments.models import DeploymentTarget
from apps.inventory import services as inventory
from tests.conftest import Trail

from .history import at, extra_models, interval, scripted, status, target

HISTORY_ROW = r'<td class="mono">(?:<a href="[^"]*">)?(\d+)'  # the "#" cell of an event row


@pytest.fixture
def as_user(client, cast):
    def sign_in(name):
        client.force_login(getattr(cast, name))
        return client

    return sign_in


def rows_of(response) -> list[str]:
    return re.findall(r'class="matrix-row[^"]*" data-model="([^"]+)"', response.content.decode())


@pytest.fixture
def landscape(cast, models, envs):
    """Retail Scorecard's scripted history (1.0.0 runs again in production, approved) and the Fraud team's
    detector running unapproved on its own target."""
    history = scripted(cast, models, envs)
    status(models.scorecard, envs.production, "in_sync", "1.0.0 runs on prod-gitops as approved.")
    fraud = target(cast, envs.production, name="fraud-serving", team=cast.team_b)
    interval(fraud, models.detector.versions.get(), 1)
    status(models.detector, envs.production, "unapproved", "3.0.0 runs on fraud-serving with no approved request.")
    history.fraud = fraud
    return history


# --- the matrix -------------------------------------------------------------------------------------------------------


def test_the_matrix_shows_only_rows_the_user_may_see(cast, landscape, as_user):
    assert rows_of(as_user("vera").get("/deployments/")) == ["retail-scorecard"]
    assert rows_of(as_user("ben").get("/deployments/")) == ["card-fraud-detector"]


def exceptions_of(response) -> list[str]:
    return re.findall(r'class="exception-row[^"]*" data-model="([^"]+)"', response.content.decode())


def test_the_matrix_shows_exceptions_above_the_models_with_their_reason(cast, landscape, envs, as_user):
    response = as_user("admin").get("/deployments/")

    assert exceptions_of(response) == ["card-fraud-detector"]  # in a section of its own, above the list
    assert rows_of(response) == ["card-fraud-detector", "retail-scorecard"]  # then every model, by name
    html = response.content.decode()
    assert html.index('id="matrix-exceptions"') < html.index('id="matrix"')
    assert "1 model has a compliance exception" in html
    assert 'title="3.0.0 runs on fraud-serving with no approved request."' in html  # on hover
    assert '<div class="small text-danger reason">3.0.0 runs on fraud-serving with no approved request.</div>' in html
    assert 'href="/deployments/"' in html and ">Deployments</a>" in html  # in the main navigation


def test_the_matrix_links_to_every_exception_when_it_shows_only_the_first(cast, landscape, envs, as_user, monkeypatch):
    monkeypatch.setattr(selectors, "EXCEPTIONS_SHOWN", 2)
    extra_models(cast, 3, envs.production, landscape.target, value="rollout_overdue")
    response = as_user("admin").get("/deployments/?team=credit-risk")

    assert exceptions_of(response) == ["extra-000", "extra-001"]
    html = response.content.decode()
    assert "More than 2 models have a compliance exception" in html
    assert 'id="all-exceptions" href="?team=credit-risk&amp;status=exceptions"' in html


def test_the_matrix_has_no_exceptions_section_without_exceptions_or_under_a_status_filter(
    cast, landscape, as_user
):  # fmt: skip
    client = as_user("admin")
    assert exceptions_of(client.get("/deployments/?status=exceptions")) == []  # the list is the exceptions
    assert 'id="matrix-exceptions"' not in as_user("vera").get("/deployments/").content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("team=credit-risk", ["retail-scorecard"]), ("status=unapproved", ["card-fraud-detector"]),
     ("status=exceptions", ["card-fraud-detector"]), ("environment=staging", []),
     ("status=not-a-status", ["card-fraud-detector", "retail-scorecard"])],
)  # fmt: skip
def test_the_matrix_filters(cast, landscape, as_user, query, expected):
    assert rows_of(as_user("admin").get(f"/deployments/?{query}")) == expected


def test_the_matrix_takes_the_same_number_of_queries_for_more_rows(
    cast, models, envs, landscape, as_user, django_assert_num_queries
):
    client = as_user("admin")
    extra_models(cast, 3, envs.production, landscape.target)
    with CaptureQueriesContext(connection) as small:
        assert len(rows_of(client.get("/deployments/"))) == 5
    extra_models(cast, 15, envs.production, landscape.target, value="rollout_overdue")
    with django_assert_num_queries(len(small)):
        assert len(rows_of(client.get("/deployments/"))) == 20


def test_the_matrix_pages_by_cursor_with_the_same_queries_on_every_page(cast, models, envs, landscape, as_user):
    extra_models(cast, 30, envs.production, landscape.target, value="in_sync")
    client = as_user("admin")
    with CaptureQueriesContext(connection) as first_queries:
        first = client.get("/deployments/")
    cursor = re.search(r'rel="next" href="\?cursor=([^"&]+)"', first.content.decode())[1]
    with CaptureQueriesContext(connection) as second_queries:
        second = client.get(f"/deployments/?cursor={cursor}")

    assert len(rows_of(first)) == 25 and len(rows_of(second)) == 7
    assert set(rows_of(first)).isdisjoint(rows_of(second))  # every model once, in name order across pages
    assert rows_of(first) + rows_of(second) == sorted(rows_of(first) + rows_of(second))
    assert len(first_queries) == len(second_queries)
    assert 'id="model-count">32 models<' in first.content.decode()


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("nonsense!", "This page link is not valid (it may have been cut short): showing the first page."),
        # the model list's cursor (two keys): a link from another list's sort order
        ("eyJkIjoibiIsInYiOlsiYSIsIkEiXX0", "This page link belongs to another sort order: showing the first page."),
    ],
)  # fmt: skip
def test_a_cursor_the_matrix_did_not_make_shows_the_first_page_and_says_why(
    cast, models, envs, landscape, as_user, cursor, reason
):
    client = as_user("admin")
    first = client.get("/deployments/")

    response = client.get(f"/deployments/?cursor={cursor}")

    assert response.status_code == 200
    assert rows_of(response) == rows_of(first) and rows_of(first)
    assert reason in response.content.decode()


def test_the_matrix_says_when_its_count_stops_at_the_cap(cast, models, envs, landscape, as_user, monkeypatch):
    monkeypatch.setattr(keyset, "COUNT_CAP", 3)
    extra_models(cast, 3, envs.production, landscape.target, value="in_sync")

    html = as_user("admin").get("/deployments/").content.decode()
    assert 'title="Counted up to 3+: narrow the list with the filters to count exactly.">3+ models</span>' in html


# --- targets ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def credited(cast, envs, granted):
    """A Credit Risk target defined through the service, reading with the github-acme credential."""
    with transaction.atomic():
        return services.target_save(
            actor=Actor.of(cast.admin), name="prod-argocd", environment=envs.production, team=cast.team_a,
            kind="gitops", config={"url": "https://github.com/acme/deploy.git", "paths": ["prod/**/*.yaml"]},
            credential=granted.github,
        )  # fmt: skip


def test_the_target_page_names_the_credential_but_never_its_reference(cast, credited, as_user):
    for name in ("vera", "alice", "admin"):
        html = as_user(name).get(f"/deployments/targets/{credited.pk}/").content.decode()
        assert '<span class="mono">github-acme</span>' in html
        assert "GITHUB_TOKEN" not in html and "env:GITHUB" not in html
    assert "target.created" in html  # its audit history


def test_the_target_page_shows_what_runs_the_history_and_the_last_error(cast, landscape, as_user):
    DeploymentTarget.objects.filter(pk=landscape.target.pk).update(
        last_status="unknown", last_error="could not read the repository: git fetch from github.com timed out"
    )
    html = as_user("vera").get(f"/deployments/targets/{landscape.target.pk}/").content.decode()

    running = html[html.index('id="running-table"') : html.index('id="observations"')]
    assert running.count('class="interval"') == 1 and ">1.0.0</a>" in running
    history = html[html.index('id="interval-table"') :]
    assert [int(pk) for pk in re.findall(r'data-interval="(\d+)"', history)] == [
        landscape.r3.pk, landscape.r2.pk, landscape.r1.pk,
    ]  # newest first  # fmt: skip
    assert "could not read the repository: git fetch from github.com timed out" in html
    assert 'data-status="unknown"' in html


def test_the_target_history_is_newest_first_and_pages_by_history_page(cast, landscape, as_user, monkeypatch):
    from apps.deployments import views

    with transaction.atomic():
        for coalesced in (False, True):
            record(action=Action.TARGET_OBSERVE_REQUESTED, actor=Actor.of(cast.alice), target=landscape.target,
                   changes={"coalesced": [None, coalesced]})  # fmt: skip
    newest, older = AuditEvent.objects.filter(target_type="deployments.deploymenttarget",
                                              target_id=str(landscape.target.pk)).order_by("-sequence")[:2]  # fmt: skip
    monkeypatch.setattr(views, "HISTORY_PAGE_SIZE", 1)
    url = f"/deployments/targets/{landscape.target.pk}/"

    first = as_user("vera").get(url).content.decode().split('id="history"')[1]
    second = as_user("vera").get(url + "?history_page=2").content.decode().split('id="history"')[1]

    assert [int(n) for n in re.findall(HISTORY_ROW, first)] == [newest.sequence]
    assert "history_page=2" in first
    assert [int(n) for n in re.findall(HISTORY_ROW, second)] == [older.sequence]


def test_the_target_list_shows_the_users_teams_targets(cast, landscape, as_user):
    assert "prod-gitops" in as_user("vera").get("/deployments/targets/").content.decode()
    html = as_user("ben").get("/deployments/targets/").content.decode()
    assert "fraud-serving" in html and "prod-gitops" not in html


def target_names(response) -> list[str]:
    return [target.name for target in response.context["page"]]


@pytest.mark.parametrize(
    ("page_query", "api_query", "names"),
    [("", "", ["staging-serving", "fraud-serving", "prod-gitops"]),  # staging comes before production
     ("environment=staging", "environment=staging", ["staging-serving"]),
     ("status=ok", "last_status=ok", ["fraud-serving", "prod-gitops"]),
     ("environment=production&status=never", "environment=production&last_status=never", [])],
)  # fmt: skip
def test_the_target_page_and_the_api_list_the_same_targets(cast, envs, landscape, as_user, page_query, api_query,
                                                             names):  # fmt: skip
    target(cast, envs.staging, name="staging-serving", last_status="never", last_observed_at=None)
    client = as_user("admin")

    page = client.get(f"/deployments/targets/?{page_query}")
    api = client.get(f"/api/v1/deployments/targets/?{api_query}")

    assert target_names(page) == names
    assert [row["name"] for row in api.json()["results"]] == names


def test_an_unknown_target_status_is_named_on_the_page_and_refused_by_the_api(cast, envs, landscape, as_user):
    target(cast, envs.staging, name="staging-serving", last_status="never", last_observed_at=None)
    client = as_user("admin")
    refusal = "Select a valid choice. bogus is not one of the available choices."

    page = client.get("/deployments/targets/?status=bogus&environment=staging")
    api = client.get("/api/v1/deployments/targets/?last_status=bogus&environment=staging")

    assert page.status_code == 200
    assert [str(message) for message in page.context["messages"]] == [f"status: {refusal}"]
    assert target_names(page) == ["staging-serving"]  # the list without the bad filter; the other one holds
    assert api.status_code == 400
    assert api.json()["errors"] == {"last_status": [refusal]}


@pytest.mark.parametrize("url", ["/deployments/targets/?environment=production", "/api/v1/deployments/targets/"])
def test_the_target_list_reads_as_many_queries_for_thirty_targets_as_for_one(cast, envs, as_user, url):
    client = as_user("alice")
    target(cast, envs.production, name="target-first")
    client.get(url)  # warm process-wide caches (content types) so that only the list is counted

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count()
    for number in range(30):
        target(cast, envs.production, name=f"target-{number:02d}")
    # The page: session, user, roles, count, rows, the navigation's badge, the environment choices; the API:
    # session, user, count, rows.
    assert count() == few <= (7 if url.startswith("/deployments/") else 4)


def test_observe_now_is_offered_to_team_admins_and_portal_admins_only(cast, landscape, as_user):
    url = f"/deployments/targets/{landscape.target.pk}/"
    for name, offered in [("alice", True), ("admin", True), ("vera", False), ("dana", False)]:
        assert ('id="observe-now"' in as_user(name).get(url).content.decode()) is offered, name


def test_observe_now_is_refused_to_a_viewer_and_records_nothing(cast, landscape, as_user):
    trail = Trail()
    response = as_user("vera").post(f"/deployments/targets/{landscape.target.pk}/observe/")
    assert response.status_code == 403
    assert "You may not observe prod-gitops." in response.content.decode()
    assert trail.events() == []


def test_observe_now_by_a_team_admin_is_audited(cast, landscape, as_user, django_capture_on_commit_callbacks):
    trail = Trail()
    response = as_user("alice").post(f"/deployments/targets/{landscape.target.pk}/observe/")

    assert response.status_code == 302 and response["Location"] == f"/deployments/targets/{landscape.target.pk}/"
    [event] = trail.events()
    assert (event.action, event.actor_label, event.target_id) == ("target.observe_requested", "alice",
                                                                 str(landscape.target.pk))  # fmt: skip
    assert event.changes == {"coalesced": [None, False]}


def test_observe_now_on_a_disabled_target_says_why(cast, landscape, as_user):
    DeploymentTarget.objects.filter(pk=landscape.target.pk).update(enabled=False)
    response = as_user("alice").post(f"/deployments/targets/{landscape.target.pk}/observe/", follow=True)
    assert "prod-gitops is disabled; enable it before observing it." in response.content.decode()


def test_get_on_observe_now_is_405(cast, landscape, as_user):
    assert as_user("alice").get(f"/deployments/targets/{landscape.target.pk}/observe/").status_code == 405


@pytest.mark.parametrize("suffix", ["", "observe/"])
def test_another_teams_target_is_404(cast, landscape, as_user, suffix):
    url = f"/deployments/targets/{landscape.target.pk}/{suffix}"
    client = as_user("ben")
    assert (client.post(url) if suffix else client.get(url)).status_code == 404
    assert client.get("/deployments/targets/999999/").status_code == 404


# --- the model and version pages, and the point-in-time question ------------------------------------------------------


def test_the_model_page_shows_where_the_model_runs_with_its_status(cast, landscape, as_user):
    html = as_user("vera").get("/models/retail-scorecard/").content.decode()

    block = html[html.index('id="model-deployments"') : html.index('id="point-in-time"')]
    assert 'data-environment="production"' in block and 'data-status="in_sync"' in block
    assert "1.0.0</span> on" in block and f'href="/deployments/targets/{landscape.target.pk}/"' in block
    assert f'datetime="{at(10):%Y-%m-%dT%H:%M:%S}Z"' in block  # since when
    assert 'hx-get="/deployments/models/retail-scorecard/at/"' in html
    assert "/static/js/deployments.js" in html


def badges_of(html) -> dict[str, list[str]]:
    """The versions table's rows on a model page: version → its environment badges' titles."""
    rows = re.findall(r'<a class="fw-medium" href="[^"]+">([^<]+)</a>(.*?)</td>', html)
    return {version: re.findall(r'class="badge env-badge[^"]*" data-environment="[^"]+" title="([^"]+)"', cells)
            for version, cells in rows}  # fmt: skip


def test_the_model_page_badges_each_listed_version_and_shows_the_latest_approval_wherever_its_version_is_listed(
    cast, models, landscape, envs, as_user
):
    client = as_user("vera")
    html = client.get("/models/retail-scorecard/").content.decode()

    assert badges_of(html) == {
        "1.1.0": ["approved for production"], "1.0.0": ["approved for production; runs there now"],
    }  # fmt: skip
    block = html[html.index('id="model-deployments"') : html.index('id="point-in-time"')]
    assert f'href="/approvals/requests/{landscape.a2.pk}/">1.1.0</a>' in block  # the newest approval, not 1.0.0's

    for number in range(20):  # the two versions move to the second page of versions
        inventory.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version=f"2.{number}.0")
    first = client.get("/models/retail-scorecard/").content.decode()
    second = client.get("/models/retail-scorecard/?versions_page=2").content.decode()

    assert set(badges_of(first)) == {f"2.{number}.0" for number in range(20)}
    assert not any(badges_of(first).values())
    assert f'href="/approvals/requests/{landscape.a2.pk}/">1.1.0</a>' in first
    assert badges_of(second) == badges_of(html)


def test_the_version_page_shows_where_the_version_runs(cast, landscape, as_user):
    client = as_user("vera")
    running = client.get("/models/retail-scorecard/versions/1.0.0/").content.decode()
    block = running[running.index('id="version-deployments"') :]
    assert 'data-environment="production"' in block and 'data-status="in_sync"' in block
    idle = client.get("/models/retail-scorecard/versions/1.1.0/").content.decode()
    assert "Not observed running on any deployment target." in idle


def test_the_point_in_time_question_answers_in_the_model_page_and_on_its_own(cast, landscape, as_user):
    client = as_user("vera")
    query = {"environment": "production", "time": f"{at(11):%Y-%m-%dT%H:%M}", "tz": "0"}

    fragment = client.get("/deployments/models/retail-scorecard/at/", query, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html
    assert "rollback from 1.1.0" in html and "Rita Tester — Approved as Model risk review" in html
    assert "policy “Production high risk” revision 3" in html

    page = client.get("/deployments/models/retail-scorecard/at/", {**query, "time": f"{at(9):%Y-%m-%dT%H:%M}"})
    assert page.status_code == 200 and "<html" in page.content.decode()
    assert 'data-gap="true"' in page.content.decode() and "Nothing ran for Retail Scorecard" in page.content.decode()


def test_a_browser_offset_moves_the_question_to_utc(cast, landscape, as_user):
    local = at(9) + timedelta(hours=2)  # 2 h ahead of UTC: the gap at 9 h UTC
    query = {"environment": "production", "time": f"{local:%Y-%m-%dT%H:%M:%S}", "tz": "-120"}
    html = as_user("vera").get("/deployments/models/retail-scorecard/at/", query).content.decode()
    assert 'data-gap="true"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [({"environment": "production", "time": "soon"}, "is not a date and time"),
     ({"environment": "production", "time": "2999-01-01T00:00"}, "in the future"),
     ({"environment": "nowhere", "time": "2026-01-01T00:00"}, "Select a valid choice"),
     ({"environment": "production", "time": ""}, "This field is required"),
     ({"environment": "production", "time": "2026-01-01T00:00", "tz": "²"}, "Enter a whole number")],
)  # fmt: skip
def test_bad_point_in_time_input_is_explained(cast, landscape, as_user, query, message):
    response = as_user("vera").get("/deployments/models/retail-scorecard/at/", query, headers={"HX-Request": "true"})
    assert response.status_code == 200 and message in response.content.decode()
    assert 'id="point-in-time-errors"' in response.content.decode()


def test_the_point_in_time_page_is_404_for_an_invisible_model_and_405_for_post(cast, landscape, as_user):
    client = as_user("ben")
    assert client.get("/deployments/models/retail-scorecard/at/").status_code == 404
    assert client.get("/deployments/models/no-such-model/at/").status_code == 404
    assert as_user("vera").post("/deployments/models/retail-scorecard/at/").status_code == 405


def test_pages_need_a_sign_in(client, landscape):
    for url in ("/deployments/", "/deployments/targets/", f"/deployments/targets/{landscape.target.pk}/"):
        assert client.get(url).status_code == 302


# --- the admin --------------------------------------------------------------------------------------------------------


def admin_form(envs, cast, **changes):
    return {
        "name": "staging-gitops", "environment": envs.staging.pk, "team": cast.team_a.pk, "kind": "gitops",
        "config": '{"url": "https://github.com/acme/deploy.git", "paths": ["staging/*.yaml"]}', "credential": "",
        "enabled": "on", "interval_seconds": "300",
    } | changes  # fmt: skip


def test_the_admin_saves_a_target_through_the_audited_service(cast, envs, as_user):
    trail = Trail()
    response = as_user("admin").post("/admin/deployments/deploymenttarget/add/", admin_form(envs, cast))

    assert response.status_code == 302, response.content.decode()[:2000]
    saved = DeploymentTarget.objects.get(name="staging-gitops")
    assert saved.config["paths"] == ["staging/*.yaml"] and saved.config["branch"] == "main"  # normalised
    assert trail.actions() == ["target.created"]


@pytest.mark.parametrize(
    ("config", "message"),
    [('{"url": "https://github.com/acme/deploy.git", "paths": ["a"],}', "This is not valid JSON: "),
     ('{"paths": ["staging/*.yaml"]}', "url is required."), ("[1, 2]", "The configuration must be a JSON object.")],
)  # fmt: skip
def test_the_admin_explains_a_bad_configuration_and_saves_nothing(cast, envs, as_user, config, message):
    trail = Trail()
    response = as_user("admin").post("/admin/deployments/deploymenttarget/add/", admin_form(envs, cast, config=config))

    assert response.status_code == 200 and message in response.content.decode()
    assert not DeploymentTarget.objects.exists() and trail.events() == []


def test_the_admin_is_for_portal_admins_only(cast, envs, as_user):
    from apps.accounts.models import User

    User.objects.filter(pk=cast.alice.pk).update(is_staff=True)  # staff, yet not a portal admin
    assert as_user("alice").get("/admin/deployments/deploymenttarget/add/").status_code == 403
