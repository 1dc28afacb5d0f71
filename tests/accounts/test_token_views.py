"""Service-account pages: a team's admins add accounts, issue tokens (shown once) and revoke them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts import tokens
from apps.accounts.models import ServiceToken, User
from apps.audit.actors import Actor
from tests.conftest import PASSWORD

TEAM = "/teams/credit-risk/"
ADD = f"{TEAM}service-accounts/add/"
GOOD_TOKEN = {"name": "github-actions", "scopes": ["read", "request-deploy"], "expires_in_days": "30"}


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def ci(cast):
    return tokens.service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name="churn-ci")


@pytest.fixture
def issued(cast, ci):
    return tokens.token_create(actor=Actor.of(cast.alice), account=ci, name="github-actions", scopes=["read"])


def token_url(ci, token=None, suffix=""):
    base = f"{TEAM}service-accounts/{ci.pk}/tokens/"
    return f"{base}add/" if token is None else f"{base}{token.pk}/{suffix}"


# The team page


def test_the_teams_admin_sees_its_service_accounts_and_their_tokens(client, cast, ci, issued):
    token, plaintext = issued
    ServiceToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    client.force_login(cast.alice)

    response = client.get(TEAM)

    assert "Service accounts" in response.text
    assert [account.username for account in response.context["service_accounts"]] == ["svc-churn-ci"]
    assert f"gpt_{token.prefix}_…" in response.text
    assert '<span class="badge text-bg-info me-1">read</span>' in response.text
    assert '<span class="badge text-bg-warning">expired</span>' in response.text
    assert "by alice" in response.text
    assert f"{token_url(ci, token, 'revoke/')}" in response.text
    assert plaintext.split("_", 2)[2] not in response.text
    assert token.secret_hash not in response.text


def test_the_members_list_marks_service_accounts(client, cast, ci):
    client.force_login(cast.vera)

    response = client.get(TEAM)

    marked = '<span class="mono">svc-churn-ci</span> <span class="text-muted">(service account)</span>'
    assert response.text.count(marked) == 1  # one row, with its contributor and auditor roles
    row = response.text.split('<tr data-user="svc-churn-ci">')[1].split("</tr>")[0]
    assert marked in row and 'data-role="auditor"' in row and 'data-role="contributor"' in row
    assert "Alice Tester" in response.text


@pytest.mark.parametrize("name", ["dana", "vera", "audrey"])
def test_members_who_are_not_admins_see_no_service_accounts_section(client, cast, issued, name):
    token, _ = issued
    client.force_login(getattr(cast, name))

    response = client.get(TEAM)

    assert response.context["service_accounts"] is None
    for hidden in ("Service accounts", "Add a service account", "Issue a token", "Revoke token", token.prefix):
        assert hidden not in response.text


def test_a_superuser_sees_every_teams_service_accounts(client, cast, ci):
    client.force_login(cast.admin)

    response = client.get(TEAM)

    assert "Add a service account" in response.text
    assert [account.username for account in response.context["service_accounts"]] == ["svc-churn-ci"]


def test_a_team_without_service_accounts_says_so(client, cast):
    client.force_login(cast.ben)

    response = client.get("/teams/fraud/")

    assert "No service accounts yet" in response.text


# Adding a service account


def test_an_admin_adds_a_service_account_and_goes_on_to_issue_a_token(client, cast, trail):
    client.force_login(cast.alice)

    response = client.post(ADD, {"name": "Churn CI", "description": "GitHub Actions"}, follow=True)

    account = User.objects.get(username="svc-churn-ci")
    assert response.redirect_chain == [(token_url(account), 302)]
    assert "Added the service account svc-churn-ci. Issue it a token." in messages_of(response)
    assert "Issue a token for" in response.text
    assert trail.actions() == ["service_account.created"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "!!!"}, "Give the service account a name, e.g. churn-ci."),
        ({"name": "x" * 101}, "Ensure this value has at most 100 characters (it has 101)."),
    ],
    ids=["blank", "no-letters", "too-long"],
)
def test_a_bad_service_account_is_refused_with_a_message(client, cast, trail, data, message):
    client.force_login(cast.alice)

    response = client.post(ADD, data)

    assert response.status_code == 200
    assert message in response.text
    assert not User.objects.filter(is_service_account=True).exists()
    assert trail.actions() == []


def test_a_taken_service_account_name_is_refused_with_a_message(client, cast, ci, trail):
    client.force_login(cast.alice)

    response = client.post(ADD, {"name": "churn-ci"})

    assert "A user or service account named svc-churn-ci exists." in response.text
    assert User.objects.filter(is_service_account=True).count() == 1
    assert trail.actions() == []


# Issuing a token


def test_an_admin_issues_a_token_and_sees_it_exactly_once(client, cast, ci, trail):
    client.force_login(cast.alice)

    response = client.post(token_url(ci), GOOD_TOKEN, follow=True)

    token = ServiceToken.objects.get(account=ci)
    [(location, status)] = response.redirect_chain
    assert (location, status) == (token_url(ci, token), 302)
    plaintext = response.context["plaintext"]
    assert plaintext.startswith(f"gpt_{token.prefix}_")
    assert tokens.token_authenticate(plaintext) == token
    assert f'value="{plaintext}"' in response.text
    assert f"export GOVPORTAL_TOKEN={plaintext}" in response.text
    assert "Copy the token now: it will not be shown again." in response.text
    for directive in ("no-cache", "no-store", "must-revalidate", "private"):
        assert directive in response["Cache-Control"]
    assert token.scopes == ["read", "request-deploy"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert trail.actions() == ["token.created"]

    again = client.get(location)

    assert again.context["plaintext"] is None
    assert plaintext not in again.text
    assert "cannot be shown again" in again.text
    assert "no-store" in again["Cache-Control"]
    assert plaintext not in client.get(TEAM).text
    assert plaintext not in str(dict(client.session))


def test_another_admin_never_sees_a_token_someone_else_issued(client, cast, ci, trail):
    client.force_login(cast.alice)
    location = client.post(token_url(ci), GOOD_TOKEN)["Location"]
    client.force_login(cast.admin)  # a new session

    response = client.get(location)

    assert response.context["plaintext"] is None
    assert "cannot be shown again" in response.text


def test_the_token_form_offers_every_scope_with_its_description(client, cast, ci):
    client.force_login(cast.alice)

    response = client.get(token_url(ci))

    assert 'value="90"' in response.text
    for value in ("read", "register", "request-deploy", "report-deployment"):
        assert f'type="checkbox" name="scopes" value="{value}"' in response.text
    assert "report-deployment: report that an approved version was deployed" in response.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (GOOD_TOKEN | {"scopes": []}, "Choose at least one scope."),
        (GOOD_TOKEN | {"scopes": ["admin"]}, "Select a valid choice. admin is not one of the available choices."),
        (GOOD_TOKEN | {"expires_in_days": "0"}, "Ensure this value is greater than or equal to 1."),
        (GOOD_TOKEN | {"expires_in_days": "367"}, "Ensure this value is less than or equal to 366."),
        (GOOD_TOKEN | {"expires_in_days": "soon"}, "Enter a whole number."),
        (GOOD_TOKEN | {"name": "   "}, "This field is required."),
    ],
    ids=["no-scopes", "unknown-scope", "zero-days", "too-many-days", "not-a-number", "blank-name"],
)
def test_a_bad_token_request_is_refused_with_a_message(client, cast, ci, trail, data, message):
    client.force_login(cast.alice)

    response = client.post(token_url(ci), data)

    assert response.status_code == 200
    assert message in response.text
    assert response.context["form"].errors
    assert not ServiceToken.objects.exists()
    assert trail.actions() == []


# Revoking


def test_revoking_asks_for_confirmation_first(client, cast, ci, issued):
    token, _ = issued
    client.force_login(cast.alice)

    response = client.get(token_url(ci, token, "revoke/"))

    assert response.status_code == 200
    assert "Revoke the token" in response.text
    assert ServiceToken.objects.get(pk=token.pk).revoked_at is None


def test_an_admin_revokes_a_token_through_the_page(client, cast, ci, issued, trail):
    token, plaintext = issued
    client.force_login(cast.alice)

    response = client.post(token_url(ci, token, "revoke/"), follow=True)

    assert response.redirect_chain == [(TEAM, 302)]
    assert f"Revoked token gpt_{token.prefix}_… of svc-churn-ci: it is refused now." in messages_of(response)
    assert '<span class="badge text-bg-danger">revoked</span>' in response.text
    assert token_url(ci, token, "revoke/") not in response.text
    assert tokens.token_authenticate(plaintext) is None
    assert trail.actions() == ["token.revoked"]

    again = client.post(token_url(ci, token, "revoke/"), follow=True)

    assert f"Token gpt_{token.prefix}_… was already revoked." in messages_of(again)
    assert trail.actions() == ["token.revoked"]


# Who may


@pytest.mark.parametrize("name", ["dana", "vera"])
def test_members_who_are_not_admins_get_403_and_change_nothing(client, cast, ci, issued, trail, name):
    token, _ = issued
    client.force_login(getattr(cast, name))

    assert client.get(ADD).status_code == 403
    assert client.post(ADD, {"name": "sneaky"}).status_code == 403
    assert client.get(token_url(ci)).status_code == 403
    assert client.post(token_url(ci), GOOD_TOKEN).status_code == 403
    assert client.get(token_url(ci, token)).status_code == 403
    assert client.post(token_url(ci, token, "revoke/")).status_code == 403
    assert User.objects.filter(is_service_account=True).count() == 1
    assert ServiceToken.objects.get().revoked_at is None
    assert trail.actions() == []


def test_another_teams_admin_gets_404_and_changes_nothing(client, cast, ci, issued, trail):
    token, _ = issued
    client.force_login(cast.ben)

    assert client.post(ADD, {"name": "sneaky"}).status_code == 404
    assert client.post(token_url(ci), GOOD_TOKEN).status_code == 404
    assert client.post(token_url(ci, token, "revoke/")).status_code == 404
    # nor through his own team's address
    assert client.post(f"/teams/fraud/service-accounts/{ci.pk}/tokens/add/", GOOD_TOKEN).status_code == 404
    assert client.post(f"/teams/fraud/service-accounts/{ci.pk}/tokens/{token.pk}/revoke/").status_code == 404
    assert ServiceToken.objects.count() == 1
    assert ServiceToken.objects.get().revoked_at is None
    assert trail.actions() == []


def test_people_are_not_service_accounts_on_these_pages(client, cast, trail):
    client.force_login(cast.alice)

    assert client.post(f"{TEAM}service-accounts/{cast.dana.pk}/tokens/add/", GOOD_TOKEN).status_code == 404
    assert not ServiceToken.objects.exists()


def test_the_token_pages_need_a_signed_in_person(client, cast, ci):
    response = client.get(token_url(ci))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# Signing in


def test_a_service_account_cannot_sign_in(client, cast, ci, trail):
    response = client.post("/accounts/login/", {"username": "svc-churn-ci", "password": "!"})

    assert response.status_code == 200
    assert "Your username and password did not match." in response.text
    assert "_auth_user_id" not in client.session
    assert trail.actions() == ["user.login_failed"]


def test_a_service_account_cannot_sign_in_even_if_given_a_password(client, cast, ci, trail):
    ci.set_password(PASSWORD)
    ci.save()

    response = client.post("/accounts/login/", {"username": "svc-churn-ci", "password": PASSWORD})

    assert response.status_code == 200
    assert "Your username and password did not match." in response.text
    assert "_auth_user_id" not in client.session
    assert trail.actions() == ["user.login_failed"]
