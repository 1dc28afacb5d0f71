"""Who may open which page and do what: roles, pages and objects, team A against team B, deny by default.

Team A ("Credit Risk") owns Retail Scorecard; team B ("Fraud") owns Card Fraud Detector. A forbidden
object answers 404 (its existence is not revealed); a forbidden page that is not about one object, 403.
"""

from urllib.parse import quote

import pytest
from django.contrib.auth.models import AnonymousUser

from apps.accounts import permissions
from apps.accounts import services as account_services
from apps.accounts.models import Membership
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent

TEAM_A = ["vera", "dana", "rita", "audrey", "alice"]
PEOPLE = [*TEAM_A, "ben", "admin"]
A_EDITORS = ["dana", "alice", "admin"]

SCORECARD = "/models/retail-scorecard/"
DETECTOR = "/models/card-fraud-detector/"

# url → {status: people}; every row names every signed-in person exactly once.
PAGES = {
    "/models/": {200: PEOPLE},
    SCORECARD: {200: [*TEAM_A, "admin"], 404: ["ben"]},
    DETECTOR: {200: ["ben", "admin"], 404: TEAM_A},
    f"{SCORECARD}versions/1.0.0/": {200: [*TEAM_A, "admin"], 404: ["ben"]},
    f"{DETECTOR}versions/3.0.0/": {200: ["ben", "admin"], 404: TEAM_A},
    f"{SCORECARD}versions/9.9.9/": {404: PEOPLE},
    "/models/no-such-model/": {404: PEOPLE},
    f"{SCORECARD}edit/": {200: A_EDITORS, 404: ["vera", "rita", "audrey", "ben"]},
    f"{DETECTOR}edit/": {200: ["ben", "admin"], 404: TEAM_A},
    "/models/new/": {200: ["dana", "alice", "ben", "admin"], 403: ["vera", "rita", "audrey"]},
    f"{SCORECARD}versions/new/": {200: A_EDITORS, 404: ["vera", "rita", "audrey", "ben"]},
    f"{DETECTOR}versions/new/": {200: ["ben", "admin"], 404: TEAM_A},
    f"{SCORECARD}versions/1.0.0/edit/": {200: A_EDITORS, 404: ["vera", "rita", "audrey", "ben"]},
    "/audit/": {200: ["audrey", "alice", "ben", "admin"], 403: ["vera", "dana", "rita"]},
    "/audit/{a_event}/": {200: ["audrey", "alice", "admin"], 404: ["ben"], 403: ["vera", "dana", "rita"]},
    "/audit/{b_event}/": {200: ["ben", "admin"], 404: ["audrey", "alice"], 403: ["vera", "dana", "rita"]},
    "/teams/": {200: PEOPLE},
    "/teams/credit-risk/": {200: [*TEAM_A, "admin"], 404: ["ben"]},
    "/teams/fraud/": {200: ["ben", "admin"], 404: TEAM_A},
    "/": {200: PEOPLE},
    # POST-only endpoints refuse a GET before looking anything up.
    f"{SCORECARD}lifecycle/": {405: PEOPLE},
    f"{SCORECARD}share/": {405: PEOPLE},
    "/teams/credit-risk/grant/": {405: PEOPLE},
    "/teams/credit-risk/revoke/{rita_membership}/": {405: PEOPLE},
}

for _url, _by_status in PAGES.items():
    assert sorted(name for names in _by_status.values() for name in names) == sorted(PEOPLE), _url

MATRIX = [
    pytest.param(url, name, status, id=f"{name}-{status}-{url}")
    for url, by_status in PAGES.items()
    for status, names in by_status.items()
    for name in names
]


@pytest.fixture
def url_values(cast, models):
    """Values for the placeholders in PAGES: ids that exist only once the test data does."""
    registered = AuditEvent.objects.filter(action="model.registered")
    return {
        "a_event": registered.get(model_id=models.scorecard.pk).sequence,
        "b_event": registered.get(model_id=models.detector.pk).sequence,
        "rita_membership": Membership.objects.get(user=cast.rita).pk,
    }


@pytest.mark.parametrize(("url", "name", "status"), MATRIX)
def test_page_access_follows_role_and_team(client, cast, url_values, url, name, status):
    client.force_login(getattr(cast, name))

    response = client.get(url.format(**url_values))

    assert response.status_code == status


@pytest.mark.parametrize("url", list(PAGES))
def test_anonymous_visitors_are_sent_to_sign_in(client, url_values, url):
    path = url.format(**url_values)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={quote(path)}"


def test_a_deactivated_user_is_signed_out_of_every_page(client, cast, models):
    client.force_login(cast.alice)
    cast.alice.is_active = False
    cast.alice.save()

    assert client.get(SCORECARD).status_code == 302
    assert client.get("/audit/").status_code == 302


# --- what a page shows depends on who reads it ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown", "hidden"),
    [
        ("vera", ["Retail Scorecard"], ["Card Fraud Detector"]),
        ("rita", ["Retail Scorecard"], ["Card Fraud Detector"]),
        ("ben", ["Card Fraud Detector"], ["Retail Scorecard"]),
        ("admin", ["Retail Scorecard", "Card Fraud Detector"], []),
    ],
)
def test_the_model_list_shows_only_visible_models(client, cast, models, name, shown, hidden):
    client.force_login(getattr(cast, name))

    response = client.get("/models/")

    assert [model.name for model in response.context["page"]] == sorted(shown)
    for title in hidden:
        assert title not in response.text
    assert f"{len(shown)} model" in response.text


def test_the_team_filter_offers_only_teams_with_visible_models(client, cast, models):
    client.force_login(cast.vera)

    response = client.get("/models/")

    assert [team.slug for team in response.context["teams"]] == ["credit-risk"]
    assert [model.name for model in client.get("/models/?team=fraud").context["page"]] == []


@pytest.mark.parametrize(
    ("name", "teams"), [("vera", ["Credit Risk"]), ("ben", ["Fraud"]), ("admin", ["Credit Risk", "Fraud"])]
)
def test_the_team_list_shows_only_the_readers_teams(client, cast, name, teams):
    client.force_login(getattr(cast, name))

    response = client.get("/teams/")

    assert [team.name for team in response.context["teams"]] == teams


@pytest.mark.parametrize("name", ["audrey", "alice"])
def test_a_team_a_audit_reader_does_not_see_team_b_events(client, cast, models, name):
    client.force_login(getattr(cast, name))

    response = client.get("/audit/")

    labels = {event.target_label for event in response.context["page"]}
    assert "Retail Scorecard" in labels
    assert not labels & {"Card Fraud Detector", "Card Fraud Detector 3.0.0"}
    assert "Card Fraud Detector" not in response.text


def test_an_auditor_cannot_pick_another_teams_trail_through_the_filter(client, cast, models):
    client.force_login(cast.audrey)

    response = client.get(f"/audit/?team={cast.team_b.pk}")

    assert response.status_code == 403
    assert "You may not read or export that team" in response.content.decode()
    assert list(response.context["page"]) == []


def test_team_b_admin_reads_only_team_b_events(client, cast, models):
    client.force_login(cast.ben)

    response = client.get("/audit/")

    assert {event.model_id for event in response.context["page"]} == {models.detector.pk}


def test_a_superuser_reads_every_event(client, cast, models):
    client.force_login(cast.admin)

    response = client.get("/audit/")

    page = response.context["page"]
    assert (page.count, page.count_capped) == (AuditEvent.objects.count(), False)


def test_the_navigation_offers_the_audit_trail_only_to_audit_readers(client, cast, models):
    client.force_login(cast.vera)
    assert 'href="/audit/"' not in client.get("/models/").text
    client.force_login(cast.audrey)
    assert 'href="/audit/"' in client.get("/models/").text


def test_edit_links_are_shown_only_to_those_who_may_edit(client, cast, models):
    client.force_login(cast.vera)
    page = client.get(SCORECARD).text
    assert f'href="{SCORECARD}edit/"' not in page
    assert "Change lifecycle status" not in page
    assert "Share outside the team" not in page

    client.force_login(cast.dana)
    page = client.get(SCORECARD).text
    assert f'href="{SCORECARD}edit/"' in page
    assert "Change lifecycle status" in page
    assert "Share outside the team" not in page

    client.force_login(cast.alice)
    assert "Share outside the team" in client.get(SCORECARD).text


# --- object permissions through django-guardian ---------------------------------------------------------------------


def test_a_view_grant_lets_another_teams_admin_see_that_model(client, cast, models):
    account_services.object_permission_grant(
        actor=Actor.of(cast.alice), user=cast.ben, action="view", obj=models.scorecard
    )
    client.force_login(cast.ben)

    assert client.get(SCORECARD).status_code == 200
    assert client.get(f"{SCORECARD}versions/1.1.0/").status_code == 200
    assert [m.name for m in client.get("/models/").context["page"]] == ["Card Fraud Detector", "Retail Scorecard"]
    assert client.get(f"{SCORECARD}edit/").status_code == 404
    assert client.get(f"{SCORECARD}versions/new/").status_code == 404
    assert client.get("/teams/credit-risk/").status_code == 404


def test_a_change_grant_opens_the_edit_pages_of_that_model_only(client, cast, models):
    account_services.object_permission_grant(
        actor=Actor.of(cast.alice), user=cast.vera, action="change", obj=models.scorecard
    )
    client.force_login(cast.vera)

    assert client.get(f"{SCORECARD}edit/").status_code == 200
    assert client.get(f"{SCORECARD}versions/new/").status_code == 200
    assert client.get(f"{SCORECARD}versions/1.0.0/edit/").status_code == 200
    assert client.get("/models/new/").status_code == 403
    assert client.get(f"{DETECTOR}edit/").status_code == 404


# --- permissions.can(), the one answer every page and service asks for -------------------------------------------

EVERYTHING = frozenset().union(*permissions.ROLE_ACTIONS.values())  # every action some role allows
ADMIN = {
    "view", "register", "change", "change_lifecycle", "request_deploy", "report_deployment", "approve", "view_audit",
    "export_audit", "manage_team", "add_service_account",
}  # fmt: skip
# What each person may do to team A's things; nobody in team A may do anything to team B's.
ALLOWED_ON_TEAM_A = {
    "vera": {"view"},
    "dana": {"view", "register", "change", "change_lifecycle", "request_deploy", "report_deployment"},
    "rita": {"view", "approve"},
    "audrey": {"view", "view_audit", "export_audit"},
    "alice": ADMIN,
    "ben": set(),
    "admin": ADMIN,
}
ALLOWED_ON_TEAM_B = {name: set() for name in TEAM_A} | {"ben": ADMIN, "admin": ADMIN}


def _objects(cast, models, team):
    if team == "a":
        return [cast.team_a, models.scorecard, models.scorecard.versions.get(version="1.0.0")]
    return [cast.team_b, models.detector, models.detector.versions.get()]


@pytest.mark.parametrize("name", PEOPLE)
@pytest.mark.parametrize("team", ["a", "b"])
def test_can_answers_by_role_and_team(cast, models, team, name):
    expected = (ALLOWED_ON_TEAM_A if team == "a" else ALLOWED_ON_TEAM_B)[name]
    user = getattr(cast, name)

    for obj in _objects(cast, models, team):
        assert {action for action in EVERYTHING if permissions.can(user, action, obj)} == expected, obj


def test_anonymous_and_deactivated_users_may_do_nothing(cast, models):
    cast.alice.is_active = False
    cast.alice.save()

    for obj in _objects(cast, models, "a"):
        for user in (AnonymousUser(), None, cast.alice):
            assert not any(permissions.can(user, action, obj) for action in EVERYTHING), (user, obj)


def test_an_object_grant_allows_exactly_its_action_on_exactly_its_object(cast, models):
    account_services.object_permission_grant(
        actor=Actor.of(cast.alice), user=cast.ben, action="view", obj=models.scorecard
    )
    version = models.scorecard.versions.get(version="1.0.0")

    assert permissions.can(cast.ben, permissions.VIEW, models.scorecard)
    assert permissions.can(cast.ben, permissions.VIEW, version)
    assert not permissions.can(cast.ben, permissions.CHANGE, models.scorecard)
    assert not permissions.can(cast.ben, permissions.VIEW, cast.team_a)

    account_services.object_permission_grant(
        actor=Actor.of(cast.alice), user=cast.ben, action="change", obj=models.scorecard
    )
    assert permissions.can(cast.ben, permissions.CHANGE, version)
    assert not permissions.can(cast.ben, permissions.CHANGE_LIFECYCLE, models.scorecard)
    assert not permissions.can(cast.ben, permissions.REGISTER, cast.team_a)
    assert not permissions.can(cast.ben, permissions.VIEW_AUDIT, models.scorecard)


def test_a_group_grant_lets_the_groups_members_see_exactly_that_model(cast, models):
    """guardian's group object permissions count in restrict() as a direct grant does: Ben, of the other team, sees
    Retail Scorecard once a group he is in may view it, and nothing else of team A."""
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from apps.inventory.models import RegisteredModel

    assert not RegisteredModel.objects.restrict(cast.ben).filter(team=cast.team_a).exists()
    group = Group.objects.create(name="Model risk reviewers")
    cast.ben.groups.add(group)
    assign_perm("inventory.view_registeredmodel", group, models.scorecard)
    seen = RegisteredModel.objects.restrict(cast.ben).filter(team=cast.team_a)
    assert list(seen) == [models.scorecard]
    assert not RegisteredModel.objects.restrict(cast.ben, permissions.CHANGE).filter(team=cast.team_a).exists()


@pytest.fixture
def forgets_permission_ids():
    """The test's transaction is rolled back, ids it made with it: this process must not keep them afterwards."""
    yield
    permissions.forget_permission_ids()


def test_grants_still_count_when_migrate_makes_the_permissions_afresh(cast, models, forgets_permission_ids):
    """restrict() names object permissions by id, kept per process. A flush or migrate makes the permission rows
    again under new ids; post_migrate makes every process forget the old ones, so grants of the new rows count."""
    from django.contrib.auth.models import Permission
    from django.core.management.sql import emit_post_migrate_signal

    from apps.inventory.models import RegisteredModel

    grant = {"actor": Actor.of(cast.alice), "user": cast.ben, "action": "view", "obj": models.scorecard}
    account_services.object_permission_grant(**grant)
    assert list(RegisteredModel.objects.restrict(cast.ben).filter(team=cast.team_a)) == [models.scorecard]
    old = Permission.objects.get(content_type__app_label="inventory", codename="view_registeredmodel")
    old.delete()  # and the grant with it
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # makes it again, under a new id
    assert Permission.objects.get(content_type__app_label="inventory", codename="view_registeredmodel").pk != old.pk
    assert not RegisteredModel.objects.restrict(cast.ben).filter(team=cast.team_a).exists()
    account_services.object_permission_grant(**grant)
    assert list(RegisteredModel.objects.restrict(cast.ben).filter(team=cast.team_a)) == [models.scorecard]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vera", False),
        ("dana", False),
        ("rita", False),
        ("audrey", True),
        ("alice", True),
        ("ben", True),
        ("admin", True),
    ],
)
def test_the_audit_trail_is_open_to_auditors_team_admins_and_superusers(cast, name, expected):
    assert permissions.can_view_audit(getattr(cast, name)) is expected
    assert permissions.can_view_audit(AnonymousUser()) is False
