"""Repository pages: who sees and changes which repository, the one-time webhook secret, Sync now, and the
Git provenance the inventory pages show for synced versions."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from apps.accounts.models import GrantedCredential
from apps.audit.actors import Actor
from apps.gitsync import services, views
from apps.gitsync.models import GitRepository, SyncRun, SyncStatus, Trigger
from apps.inventory import services as inventory
from apps.inventory.models import Source
from tests.conftest import Trail

GOVPORTAL_YAML = """\
models:
  - name: Churn Predictor
    team: credit-risk
    risk_tier: medium
    versions:
      - version: 1.0.0
"""


def add(cast, name, *, actor=None, team=None, url=None, tmp_path=None, **fields):
    """A repository registered through the service (audited), pointing at a path with no repository by default."""
    fields = {"branch": "main", "default_risk_tier": "high", "enabled": True} | fields
    url = url or f"https://git.example.com/acme/{name}.git"
    repository, _secret = services.repository_create(
        actor=Actor.of(actor or cast.alice), team=team or cast.team_a, name=name, url=url, **fields
    )
    return repository


def detail_url(repository):
    return f"/repositories/{repository.pk}/"


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def form_data(**changes):
    return {
        "name": "credit-models", "url": "https://github.com/acme/credit-models.git", "branch": "main",
        "credential": "", "default_risk_tier": "high", "enabled": "on",
    } | changes  # fmt: skip


@pytest.fixture
def repo_a(cast, granted):
    return add(cast, "credit-models", url="https://github.com/acme/credit-models.git", credential=granted.github)


@pytest.fixture
def repo_b(cast):
    return add(cast, "fraud-models", actor=cast.ben, team=cast.team_b, url="https://github.com/acme/fraud-models.git")


@pytest.fixture
def as_user(client, cast):
    def sign_in(name):
        client.force_login(getattr(cast, name))
        return client

    return sign_in


# --- the list ---------------------------------------------------------------------------------------------------------


def test_the_list_shows_only_repositories_of_the_users_teams(cast, repo_a, repo_b, as_user):
    for name, expected in [("ben", ["fraud-models"]), ("dana", ["credit-models"]), ("vera", ["credit-models"]),
                           ("admin", ["credit-models", "fraud-models"])]:  # fmt: skip
        response = as_user(name).get("/repositories/")
        assert [repository.name for repository in response.context["page"]] == expected, name


def test_a_repository_of_another_team_is_not_found(cast, repo_a, as_user):
    client = as_user("ben")

    assert client.get(detail_url(repo_a)).status_code == 404
    assert client.get(f"{detail_url(repo_a)}edit/").status_code == 404
    assert client.post(f"{detail_url(repo_a)}sync/").status_code == 404
    assert client.post(f"{detail_url(repo_a)}rotate-secret/").status_code == 404
    assert client.get("/repositories/999999/").status_code == 404


def test_the_list_shows_redacted_url_status_and_last_sync(cast, repo_a, as_user):
    GitRepository.objects.filter(pk=repo_a.pk).update(url="https://someone:hunter2@example.com/x.git")  # legacy row
    add(cast, "scoring")
    GitRepository.objects.filter(name="scoring").update(
        last_sync_status=SyncStatus.FAILED, last_synced_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    )

    text = as_user("dana").get("/repositories/").text

    assert "hunter2" not in text
    assert "https://***@example.com/x.git" in text
    assert 'data-status="never">Never synced</span>' in text
    assert 'class="badge text-bg-danger sync-status" data-status="failed">Failed</span>' in text
    assert '<time datetime="2026-03-01T09:30:00Z"' in text
    assert ">never</span>" in text
    assert "2 repositories" in text


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?q=CREDIT", ["credit-models"]),
        ("?q=acme/fraud", ["fraud-models"]),
        ("?q=nothing-like-this", []),
        ("?team=credit-risk", ["credit-models"]),
        ("?team=fraud", ["fraud-models"]),
        ("?status=failed", ["fraud-models"]),
        ("?status=never", ["credit-models"]),
    ],
)
def test_the_list_searches_and_filters(cast, repo_a, repo_b, as_user, query, names):
    GitRepository.objects.filter(pk=repo_b.pk).update(last_sync_status=SyncStatus.FAILED)

    response = as_user("admin").get(f"/repositories/{query}")

    assert [repository.name for repository in response.context["page"]] == names


def test_the_list_is_paginated(cast, as_user, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for name in ("a-repo", "b-repo", "c-repo"):
        add(cast, name)
    client = as_user("dana")

    first = client.get("/repositories/?team=credit-risk")
    following = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = client.get(f"/repositories/{following}")

    assert [r.name for r in first.context["page"]] == ["a-repo", "b-repo"]
    assert following.startswith("?team=credit-risk&cursor=")
    assert [r.name for r in second.context["page"]] == ["c-repo"]
    assert 'rel="next"' not in second.text and "3 repositories" in second.text


@pytest.mark.parametrize(
    ("page_query", "api_query", "names"),
    [
        ("q=CREDIT", "search=CREDIT", ["credit-models"]),
        ("q=acme/fraud", "search=acme/fraud", ["fraud-models"]),
        ("q=acme+CREDIT", "search=acme+CREDIT", ["credit-models"]),  # every word, each in the name or the URL
        ("team=credit-risk", "team=credit-risk", ["credit-models"]),
        ("status=failed", "status=failed", ["fraud-models"]),
        ("q=models&team=fraud&status=never", "search=models&team=fraud&status=never", []),
        ("", "", ["credit-models", "fraud-models"]),
    ],
)
def test_the_page_and_the_api_list_the_same_repositories(cast, repo_a, repo_b, as_user, page_query, api_query, names):
    GitRepository.objects.filter(pk=repo_b.pk).update(last_sync_status=SyncStatus.FAILED)
    client = as_user("admin")

    page = client.get(f"/repositories/?{page_query}")
    api = client.get(f"/api/v1/repositories/?{api_query}")

    assert [repository.name for repository in page.context["page"]] == names
    assert [row["name"] for row in api.json()["results"]] == names


def test_an_unknown_status_is_named_on_the_page_and_refused_by_the_api(cast, repo_a, repo_b, as_user):
    client = as_user("admin")
    refusal = "Select a valid choice. bogus is not one of the available choices."

    page = client.get("/repositories/?status=bogus&team=credit-risk")
    api = client.get("/api/v1/repositories/?status=bogus&team=credit-risk")

    assert page.status_code == 200
    assert messages_of(page) == [f"status: {refusal}"]
    assert [repository.name for repository in page.context["page"]] == ["credit-models"]  # the other filter holds
    assert api.status_code == 400
    assert api.json()["errors"] == {"status": [refusal]}


@pytest.mark.parametrize("url", ["/repositories/?q=models&team=credit-risk", "/api/v1/repositories/?search=models"])
def test_the_list_reads_as_many_queries_for_thirty_repositories_as_for_one(cast, as_user, url):
    client = as_user("alice")
    add(cast, "first-models")
    client.get(url)  # warm process-wide caches (content types) so that only the list is counted

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count()
    GitRepository.objects.bulk_create(
        GitRepository(name=f"bulk-models-{n:02d}", url=f"https://git.example.com/acme/bulk-{n:02d}.git",
                      team=cast.team_a)
        for n in range(30)
    )  # fmt: skip
    # The page: session, user, roles, count, rows, the navigation's badge, the team choices; the API: session,
    # user, count, rows.
    assert count() == few <= (7 if url.startswith("/repositories/") else 4)


def test_an_empty_list_says_what_a_repository_is_for(cast, as_user):
    alice_page = as_user("alice").get("/repositories/").text
    assert "No repositories yet. A repository is a Git repository holding your team's models" in alice_page
    assert "Add repository" in alice_page

    dana_page = as_user("dana").get("/repositories/").text
    assert "A team admin can add one." in dana_page
    assert "Add repository" not in dana_page


def test_the_navigation_marks_repositories_active(cast, repo_a, as_user):
    text = as_user("vera").get(detail_url(repo_a)).text

    assert re.search(r'class="nav-link active" href="/repositories/">Repositories</a>', text)


# --- adding: the one-time secret, who may, and refusals ---------------------------------------------------------------


def test_alice_adds_a_repository_and_sees_its_webhook_secret_once(cast, granted, as_user):
    client = as_user("alice")
    trail = Trail()

    form = client.get("/repositories/new/")
    assert [team.name for team in form.context["form"].fields["team"].queryset] == ["Credit Risk"]
    assert [c.name for c in form.context["form"].fields["credential"].queryset] == ["github-acme"]
    assert "only to the hosts the administrator allowed" in form.text
    response = client.post("/repositories/new/", form_data(team=cast.team_a.pk, credential=granted.github.pk))

    repository = GitRepository.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(repository)
    assert (repository.name, repository.team, repository.branch) == ("credit-models", cast.team_a, "main")
    assert repository.credential == granted.github
    assert repository.github_full_name == "acme/credit-models"
    assert trail.actions() == ["repository.created"]
    assert trail.events()[0].actor_label == "alice"

    page = client.get(response.url)
    secret = services.webhook_secret(repository)
    assert page.context["secret"] == secret
    assert f'value="{secret}"' in page.text
    assert "copy it now; it will not be shown again" in page.text
    assert f"{settings.PORTAL_BASE_URL.rstrip('/')}/hooks/github/" in page.text
    assert resolve(views.WEBHOOK_PATH).view_name == "hooks:github"
    assert "application/json" in page.text
    assert "no-store" in page.headers["Cache-Control"]
    assert messages_of(page) == ["Added credit-models."]

    again = client.get(response.url)
    assert again.context["secret"] is None
    assert secret not in again.text
    assert "copy it now" not in again.text
    assert "Configured" in again.text


def test_team_choices_are_the_teams_the_user_administers(cast, as_user):
    assert [t.name for t in as_user("ben").get("/repositories/new/").context["form"].fields["team"].queryset] == [
        "Fraud"
    ]
    admin_teams = as_user("admin").get("/repositories/new/").context["form"].fields["team"].queryset
    assert [t.name for t in admin_teams] == ["Credit Risk", "Fraud"]


def test_ben_cannot_add_a_repository_to_another_team(cast, as_user):
    trail = Trail()

    response = as_user("ben").post("/repositories/new/", form_data(team=cast.team_a.pk))

    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert not GitRepository.objects.exists()
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["dana", "vera", "rita", "audrey"])
def test_only_team_admins_may_add_repositories(cast, as_user, name):
    client = as_user(name)
    trail = Trail()

    assert "Add repository" not in client.get("/repositories/").text
    assert client.get("/repositories/new/").status_code == 403
    assert client.post("/repositories/new/", form_data(team=cast.team_a.pk)).status_code == 403
    assert not GitRepository.objects.exists()
    assert trail.actions() == []


@pytest.mark.parametrize(
    ("changes", "field", "message", "hidden"),
    [
        ({"credential": "env:SECRET_KEY"}, "credential", "Select a valid choice", "env:SECRET_KEY"),
        ({"credential": "FRAUD"}, "credential", "Select a valid choice", None),  # another team's credential
        ({"url": "https://user:pass@host.example/x.git"}, "url", "Leave user names, passwords and tokens", "user:pass"),
        ({"url": "https://ghp_abc123@github.com/acme/x.git"}, "url", "Leave user names, passwords", "ghp_abc123"),
        ({"url": "https://host.example/x.git?access_token=tok987"}, "url", "Leave query strings", "tok987"),
        ({"url": "deploy:hunter2@host.example:org/x.git"}, "url", "Leave passwords out of the URL", "hunter2"),
        ({"url": "/srv/git/other.git"}, "url", "Only portal administrators may register a local repository", None),
        ({"url": "file:///srv/git/other.git"}, "url", "Only portal administrators may register", None),
        ({"url": "http://github.com/acme/x.git", "credential": "GITHUB"}, "credential",
         "sent only over https:// or ssh://", None),
        ({"url": "https://127.0.0.1:9/x.git", "credential": "GITHUB"}, "credential",
         "may be sent only to github.com, not to 127.0.0.1:9", None),
        ({"url": "ftp://host.example/x.git"}, "url", "unsupported URL scheme &#x27;ftp&#x27;", None),
        ({"url": "ext::sh -c evil"}, "url", "remote-helper URLs", None),
        ({"url": ""}, "url", "This field is required.", None),
        ({"branch": "a..b"}, "branch", "invalid branch name &#x27;a..b&#x27;", None),
        ({"branch": "-main"}, "branch", "invalid branch name", None),
        ({"name": ""}, "name", "This field is required.", None),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(
    cast, granted, as_user, changes, field, message, hidden
):
    trail = Trail()
    named = {"FRAUD": granted.fraud.pk, "GITHUB": granted.github.pk}
    changes = {key: named.get(value, value) for key, value in changes.items()}

    response = as_user("alice").post("/repositories/new/", form_data(team=cast.team_a.pk, **changes))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert message in response.text
    if hidden:
        assert hidden not in response.text  # a refused token or password is not echoed back into the page
    assert not GitRepository.objects.exists()
    assert trail.actions() == []


def test_the_same_url_and_branch_cannot_be_added_twice(cast, repo_a, as_user):
    trail = Trail()

    response = as_user("alice").post("/repositories/new/", form_data(team=cast.team_a.pk, name="another-name"))

    assert response.status_code == 200
    assert response.context["form"].errors["url"] == ["This repository and branch are registered already."]
    assert GitRepository.objects.count() == 1
    assert trail.actions() == []


def test_the_same_url_on_another_branch_is_a_second_repository(cast, repo_a, as_user):
    response = as_user("alice").post("/repositories/new/", form_data(team=cast.team_a.pk, name="x", branch="release"))

    assert response.status_code == 302
    assert GitRepository.objects.count() == 2


def test_a_name_is_used_once(cast, repo_a, as_user):
    response = as_user("alice").post(
        "/repositories/new/", form_data(team=cast.team_a.pk, url="https://github.com/acme/other.git")
    )

    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert GitRepository.objects.count() == 1


# --- editing and rotating the secret ----------------------------------------------------------------------------------


def test_alice_edits_a_repository_and_the_diff_is_audited(cast, granted, repo_a, as_user):
    client = as_user("alice")
    ci = GrantedCredential.objects.create(
        name="github-ci", reference="file:/run/secrets/gh", allowed_hosts=["github.com"]
    )
    ci.teams.add(cast.team_a)
    trail = Trail()

    form = client.get(f"{detail_url(repo_a)}edit/")
    assert "team" not in form.context["form"].fields
    assert form.context["form"]["branch"].value() == "main"
    response = client.post(f"{detail_url(repo_a)}edit/", form_data(branch="release", credential=ci.pk, enabled=""))

    assert response.status_code == 302
    repo_a.refresh_from_db()
    assert (repo_a.branch, repo_a.credential, repo_a.enabled) == ("release", ci, False)
    [event] = trail.events()
    assert event.action == "repository.updated"
    assert event.changes == {
        "branch": ["main", "release"],
        "credential": ["github-acme", "github-ci"],
        "enabled": [True, False],
    }


def test_saving_without_changes_writes_no_event(cast, granted, repo_a, as_user):
    trail = Trail()

    response = as_user("alice").post(f"{detail_url(repo_a)}edit/", form_data(credential=granted.github.pk))

    assert response.status_code == 302
    assert trail.actions() == []


def test_a_bad_edit_is_refused_and_changes_nothing(cast, granted, repo_a, as_user):
    trail = Trail()

    response = as_user("alice").post(
        f"{detail_url(repo_a)}edit/",
        form_data(branch="a..b", url="https://gitlab.example.com/x.git", credential=granted.github.pk),
    )

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"branch", "credential"}
    repo_a.refresh_from_db()
    assert repo_a.branch == "main"
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["dana", "vera"])
def test_only_team_admins_may_edit(cast, repo_a, as_user, name):
    client = as_user(name)
    trail = Trail()

    assert client.get(f"{detail_url(repo_a)}edit/").status_code == 403
    assert client.post(f"{detail_url(repo_a)}edit/", form_data(branch="release")).status_code == 403
    repo_a.refresh_from_db()
    assert repo_a.branch == "main"
    assert trail.actions() == []


def test_alice_rotates_the_webhook_secret_and_sees_the_new_one_once(cast, repo_a, as_user):
    client = as_user("alice")
    old = services.webhook_secret(repo_a)
    trail = Trail()

    response = client.post(f"{detail_url(repo_a)}rotate-secret/")

    assert response.status_code == 302
    repo_a.refresh_from_db()
    new = services.webhook_secret(repo_a)
    assert new != old
    assert trail.actions() == ["repository.webhook_secret_rotated"]
    page = client.get(detail_url(repo_a))
    assert f'value="{new}"' in page.text
    assert "copy it now; it will not be shown again" in page.text
    assert new not in client.get(detail_url(repo_a)).text


@pytest.mark.parametrize("name", ["dana", "vera"])
def test_only_team_admins_may_rotate_the_secret(cast, repo_a, as_user, name):
    client = as_user(name)
    old = repo_a.webhook_secret_encrypted
    trail = Trail()

    assert client.post(f"{detail_url(repo_a)}rotate-secret/").status_code == 403
    repo_a.refresh_from_db()
    assert repo_a.webhook_secret_encrypted == old
    assert trail.actions() == []


@pytest.mark.parametrize("path", ["sync/", "rotate-secret/"])
def test_commands_answer_get_with_405(cast, repo_a, as_user, path):
    assert as_user("alice").get(f"{detail_url(repo_a)}{path}").status_code == 405


# --- the detail page and Sync now -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sync", "manage"),
    [("alice", True, True), ("dana", True, False), ("vera", False, False), ("audrey", False, False)],
)
def test_buttons_follow_permissions(cast, repo_a, as_user, name, sync, manage):
    text = as_user(name).get(detail_url(repo_a)).text

    assert ('id="sync-now"' in text) is sync
    assert (f'href="{detail_url(repo_a)}edit/"' in text) is manage
    assert ('id="rotate-secret"' in text) is manage


def test_the_detail_page_shows_the_record(cast, repo_a, as_user):
    GitRepository.objects.filter(pk=repo_a.pk).update(last_synced_commit="0123456789abcdef" * 2 + "01234567")

    text = as_user("vera").get(detail_url(repo_a)).text

    assert "https://github.com/acme/credit-models.git" in text
    assert "github-acme" in text
    assert "env:GITHUB_TOKEN" not in text  # where the worker reads the secret is for portal admins only
    assert ">01234567</dd>" in text
    assert "acme/credit-models" in text
    assert "Configured" in text
    assert "Not synced yet." in text


def test_dana_syncs_a_real_repository_now(cast, remote, as_user, django_capture_on_commit_callbacks):
    head = remote.commit("models", {"govportal.yaml": GOVPORTAL_YAML})
    repository = add(cast, "churn", url=remote.url, actor=cast.admin)
    client = as_user("dana")
    trail = Trail()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(f"{detail_url(repository)}sync/")

    assert response.status_code == 302
    assert len(callbacks) >= 1
    assert "git.sync_requested" in trail.actions()
    run = SyncRun.objects.get(repository=repository)
    assert (run.trigger, run.requested_by) == (Trigger.MANUAL, "dana")
    assert run.finished_at is not None
    page = client.get(response.url)
    assert messages_of(page) == ["Synced: the run is at the top of the list."]
    rows = page.context["runs"]
    assert [r.pk for r in rows] == [run.pk]
    assert f'data-run="{run.pk}"' in page.text
    assert f'data-status="{run.status}"' in page.text
    assert (run.status, run.head_after, run.created) == (SyncStatus.SUCCEEDED, head, 1), run.errors
    assert head[:10] in page.text
    assert [m.name for m in page.context["models"]] == ["Churn Predictor"]


def test_a_second_sync_request_joins_the_queued_one(cast, repo_a, as_user, django_capture_on_commit_callbacks):
    services.claim_queue_slot(repo_a.pk)  # a sync is waiting for a worker
    trail = Trail()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = as_user("dana").post(f"{detail_url(repo_a)}sync/", follow=True)

    assert callbacks == []
    assert messages_of(response) == ["A sync is already queued; your request joins it."]
    assert not SyncRun.objects.exists()
    [event] = trail.events()
    assert (event.action, event.changes["coalesced"]) == ("git.sync_requested", [None, True])
    assert "sync queued" in response.text


def test_a_disabled_repository_is_not_synced(cast, as_user, django_capture_on_commit_callbacks):
    repository = add(cast, "off", enabled=False)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = as_user("dana").post(f"{detail_url(repository)}sync/", follow=True)

    assert callbacks == []
    assert messages_of(response) == ["off is disabled; enable it before syncing."]
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("name", ["vera", "audrey", "rita"])
def test_people_who_cannot_register_may_not_sync(cast, repo_a, as_user, name, django_capture_on_commit_callbacks):
    trail = Trail()

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(name).post(f"{detail_url(repo_a)}sync/")

    assert response.status_code == 403
    assert not SyncRun.objects.exists()
    assert trail.actions() == []


def test_sync_runs_are_listed_newest_first_with_their_problems_in_words(cast, repo_a, as_user):
    start = timezone.now() - timedelta(hours=2)
    SyncRun.objects.create(
        repository=repo_a, trigger=Trigger.SCHEDULE, requested_by="beat", status=SyncStatus.SUCCEEDED,
        started_at=start, finished_at=start + timedelta(seconds=3.2), head_before="", head_after="a" * 40,
        commits_read=4, created=2, updated=1, unchanged=3,
    )  # fmt: skip
    SyncRun.objects.create(
        repository=repo_a, trigger=Trigger.MANUAL, requested_by="dana", status=SyncStatus.WARNING,
        started_at=start + timedelta(hours=1), finished_at=start + timedelta(hours=1, minutes=2, seconds=5),
        head_before="a" * 40, head_after="b" * 40, commits_read=1,
        warnings=[f"govportal.yaml line {n}: <unknown key>" for n in range(1, 8)],
        errors=["churn@v2: the tag points at a commit outside main"],
    )  # fmt: skip

    text = as_user("vera").get(detail_url(repo_a)).text

    assert text.index('data-status="warning"') < text.index('data-status="succeeded"')
    assert "3.2 s" in text and "2 min 5 s" in text
    assert "aaaaaaaa</span> → <span" in text and "bbbbbbbb<" in text
    assert "2 / 1 / 3" in text
    table = text.split('id="run-table"')[1].split("</table>")[0]
    assert "<td>Sync now</td>" in table and "<td>Schedule</td>" in table and "<td>dana</td>" in table
    assert "7 warnings:" in text
    assert "2 more warnings" in text
    assert "govportal.yaml line 7: &lt;unknown key&gt;" in text
    assert "1 error:" in text
    assert "the tag points at a commit outside main" in text


def test_sync_runs_are_paginated(cast, repo_a, as_user, monkeypatch):
    monkeypatch.setattr(views, "RUNS_PAGE_SIZE", 2)
    start = timezone.now()
    for n in range(3):
        SyncRun.objects.create(repository=repo_a, trigger=Trigger.SCHEDULE, started_at=start + timedelta(minutes=n))
    client = as_user("dana")

    assert len(client.get(detail_url(repo_a)).context["runs"]) == 2
    last = client.get(f"{detail_url(repo_a)}?page=2")
    assert len(last.context["runs"]) == 1
    assert "Page 2 of 2" in last.text


def test_the_detail_page_lists_the_models_synced_from_the_repository(cast, repo_a, models, as_user):
    inventory.registered_model_update(
        actor=Actor.of(cast.dana), model=models.scorecard, source_repository_url=repo_a.url, source_path="scorecard"
    )

    response = as_user("vera").get(detail_url(repo_a))

    assert [m.name for m in response.context["models"]] == ["Retail Scorecard"]
    assert 'href="/models/retail-scorecard/"' in response.text


# --- Git provenance on the inventory pages ----------------------------------------------------------------------------

METADATA = {
    "mlflow": {
        "flavors": ["python_function", "sklearn"],
        "signature": {
            "inputs": [{"name": "age", "type": "double"}, {"name": "income", "type": "long"}],
            "outputs": [{"type": "tensor", "tensor-spec": {"dtype": "float64"}}],
            "params": None,
        },
        "run_id": "8c1f2e",
        "model_uuid": "d41d8cd9",
        "utc_time_created": "2026-01-02 03:04:05.000000",
        "mlflow_version": "2.19.0",
    },
    "huggingface": {"license": "apache-2.0", "datasets": ["imdb"], "base_model": "bert-base", "metrics": {"f1": 0.91}},
    "dvc": {"stage": "train", "outs": [{"path": "model.pkl", "md5": "abc"}]},
    "note": "<script>alert(1)</script>",
}


@pytest.fixture
def git_version(cast, models):
    return inventory.model_version_create(
        actor=Actor.of(cast.dana), model=models.scorecard, version="2.0.0", source=Source.GIT,
        git_commit_sha="f" * 40, git_tag="retail-scorecard@v2.0.0", git_author="Dana Dev <dana@example.org>",
        git_committed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), stages=["staging", "prod"],
        source_metadata=METADATA, deregistered=True,
    )  # fmt: skip


def test_a_git_version_shows_where_it_came_from(cast, git_version, as_user):
    text = as_user("vera").get("/models/retail-scorecard/versions/2.0.0/").text
    block = text.split('id="git-provenance"')[1].split('id="digest"')[0]

    assert "retail-scorecard@v2.0.0" in block
    assert f'title="{"f" * 40}">ffffffff</dd>' in block
    assert "Dana Dev &lt;dana@example.org&gt;" in block
    assert '<time datetime="2026-01-02T03:04:05Z"' in block
    assert '<span class="badge text-bg-info stage">staging</span>' in block
    assert '<span class="badge text-bg-info stage">prod</span>' in block
    assert "Deregistered in Git" in block
    assert "MLflow" in block and "Hugging Face model card" in block
    assert "python_function" in block and "8c1f2e" in block and "2.19.0" in block
    assert '<span class="mono">income</span> <span class="text-muted">long</span>' in block
    assert "apache-2.0" in block and "imdb" in block and "0.91" in block
    assert "dvc" in block and "model.pkl" in block  # an unknown section: shown as found
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block
    assert "<script>alert(1)" not in text


def test_a_manual_version_has_no_git_block(cast, models, as_user):
    text = as_user("vera").get("/models/retail-scorecard/versions/1.0.0/").text

    assert 'id="git-provenance"' not in text
    assert "Deregistered in Git" not in text


def test_the_versions_table_shows_stage_labels(cast, git_version, as_user):
    text = as_user("vera").get("/models/retail-scorecard/").text

    assert '<span class="badge text-bg-info stage">staging</span>' in text
    assert '<span class="badge text-bg-warning">deregistered</span>' in text


# --- the admin --------------------------------------------------------------------------------------------------------


def test_the_admin_shows_repositories_and_runs_read_only(cast, repo_a, as_user):
    SyncRun.objects.create(repository=repo_a, trigger=Trigger.MANUAL, status=SyncStatus.FAILED)
    client = as_user("admin")

    listing = client.get("/admin/gitsync/gitrepository/")
    assert listing.status_code == 200
    assert "credit-models" in listing.text
    assert "/admin/gitsync/gitrepository/add/" not in listing.text
    change = client.get(f"/admin/gitsync/gitrepository/{repo_a.pk}/change/")
    assert change.status_code == 200
    assert f'href="{detail_url(repo_a)}"' in change.text
    assert repo_a.webhook_secret_encrypted not in change.text
    assert 'name="_save"' not in change.text
    assert client.post(f"/admin/gitsync/gitrepository/{repo_a.pk}/change/", {"name": "x"}).status_code == 403
    assert client.get("/admin/gitsync/syncrun/").status_code == 200
    assert client.get("/admin/gitsync/gitrepository/add/").status_code == 403
