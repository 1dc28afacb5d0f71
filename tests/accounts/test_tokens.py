"""Service accounts and their API tokens: made and issued by team admins, audited without secrets, checked per call."""

import hashlib
import json
import logging
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.accounts import services, tokens
from apps.accounts.authentication import ServiceTokenAuthentication
from apps.accounts.models import Membership, Role, ServiceToken, Team, User
from apps.audit.actors import Actor


@pytest.fixture
def ci(cast):
    """svc-churn-ci: Credit Risk's CI pipeline, added by alice (its admin)."""
    return tokens.service_account_create(
        actor=Actor.of(cast.alice), team=cast.team_a, name="churn-ci", description="GitHub Actions of churn-model"
    )


@pytest.fixture
def issued(cast, ci):
    """A token of svc-churn-ci and its full text: (token, plaintext)."""
    return tokens.token_create(
        actor=Actor.of(cast.alice), account=ci, name="github-actions", scopes=["register", "read"]
    )


def secret_of(plaintext: str) -> str:
    return plaintext.split("_", 2)[2]


def issue(actor_user, account, **overrides):
    arguments = {"name": "github-actions", "scopes": ["read"], "expires_in_days": 90} | overrides
    return tokens.token_create(actor=Actor.of(actor_user), account=account, **arguments)


# Service accounts


def test_an_admin_adds_a_service_account_that_cannot_sign_in(cast, trail):
    account = tokens.service_account_create(
        actor=Actor.of(cast.alice), team=cast.team_a, name="Churn CI", description="GitHub Actions of churn-model"
    )

    assert account.username == "svc-churn-ci"
    assert account.is_service_account
    assert not account.has_usable_password()
    memberships = Membership.objects.filter(user=account)
    assert sorted((m.team, m.role, m.granted_by) for m in memberships) == [
        (cast.team_a, Role.AUDITOR, cast.alice),
        (cast.team_a, Role.CONTRIBUTOR, cast.alice),
    ]
    [event] = trail.events()
    assert event.action == "service_account.created"
    assert event.actor == cast.alice
    assert event.changes == {
        "username": [None, "svc-churn-ci"],
        "team": [None, "Credit Risk"],
        "description": [None, "GitHub Actions of churn-model"],
    }


def test_a_superuser_adds_a_service_account_to_any_team(cast, trail):
    account = tokens.service_account_create(actor=Actor.of(cast.admin), team=cast.team_b, name="fraud-ci")

    assert Membership.objects.filter(user=account, team=cast.team_b).count() == 2
    assert trail.actions() == ["service_account.created"]


@pytest.mark.parametrize("name", ["", "   ", "!!!"])
def test_a_service_account_needs_a_name(cast, trail, name):
    with pytest.raises(ValidationError) as refused:
        tokens.service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name=name)

    assert refused.value.message_dict == {"name": ["Give the service account a name, e.g. churn-ci."]}
    assert not User.objects.filter(is_service_account=True).exists()
    assert trail.actions() == []


def test_a_service_account_name_is_used_once(cast, ci, trail):
    with pytest.raises(ValidationError) as refused:
        tokens.service_account_create(actor=Actor.of(cast.ben), team=cast.team_b, name="Churn CI")

    assert refused.value.message_dict == {"name": ["A user or service account named svc-churn-ci exists."]}
    assert User.objects.filter(is_service_account=True).count() == 1
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["dana", "vera", "audrey", "ben"])
def test_only_the_teams_admins_add_service_accounts(cast, trail, name):
    with pytest.raises(PermissionDenied, match=r"Only admins of Credit Risk can add service accounts\."):
        tokens.service_account_create(actor=Actor.of(getattr(cast, name)), team=cast.team_a, name="churn-ci")

    assert not User.objects.filter(is_service_account=True).exists()
    assert trail.actions() == []


# Issuing tokens


def test_issuing_a_token_audits_its_prefix_never_its_secret(cast, ci, trail):
    before = timezone.now()

    token, plaintext = issue(cast.alice, ci, scopes=["register", "read", "read"])

    assert plaintext.startswith(f"gpt_{token.prefix}_")
    assert len(token.prefix) == 8
    assert token.secret_hash == hashlib.sha256(secret_of(plaintext).encode()).hexdigest()
    assert token.scopes == ["read", "register"]
    assert token.created_by == cast.alice
    assert before + timedelta(days=90) <= token.expires_at <= timezone.now() + timedelta(days=90)
    assert token.revoked_at is None and token.last_used_at is None
    [event] = trail.events()
    assert event.action == "token.created"
    assert event.changes["prefix"] == [None, token.prefix]
    assert event.changes["scopes"] == [None, ["read", "register"]]
    assert event.changes["account"] == [None, "svc-churn-ci"]
    written = json.dumps([event.changes, event.context, event.target_label])
    for secret in (plaintext, secret_of(plaintext), token.secret_hash):
        assert secret not in written


def test_each_token_gets_its_own_prefix_and_secret(cast, ci):
    first, first_text = issue(cast.alice, ci)
    second, second_text = issue(cast.alice, ci)

    assert first.prefix != second.prefix
    assert secret_of(first_text) != secret_of(second_text)


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([], "Choose at least one scope."),
        (None, "Choose at least one scope."),
        (["admin"], "Unknown scopes: admin."),
        (["read", "deploy", "approve"], "Unknown scopes: approve, deploy."),
    ],
    ids=["empty", "none", "unknown", "some-unknown"],
)
def test_a_token_needs_known_scopes(cast, ci, trail, scopes, message):
    with pytest.raises(ValidationError) as refused:
        issue(cast.alice, ci, scopes=scopes)

    assert refused.value.message_dict == {"scopes": [message]}
    assert not ServiceToken.objects.exists()
    assert trail.actions() == []


@pytest.mark.parametrize("days", [0, -1, 367, 10_000, "90", None])
def test_a_token_expires_after_1_to_366_days(cast, ci, trail, days):
    with pytest.raises(ValidationError) as refused:
        issue(cast.alice, ci, expires_in_days=days)

    assert refused.value.message_dict == {"expires_in_days": ["A token expires after 1 to 366 days."]}
    assert not ServiceToken.objects.exists()
    assert trail.actions() == []


@pytest.mark.parametrize("days", [1, 366])
def test_the_expiry_bounds_are_accepted(cast, ci, days):
    token, _ = issue(cast.alice, ci, expires_in_days=days)

    assert timedelta(days=days - 1) < token.expires_at - timezone.now() <= timedelta(days=days)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_token_needs_a_name(cast, ci, trail, name):
    with pytest.raises(ValidationError) as refused:
        issue(cast.alice, ci, name=name)

    assert list(refused.value.message_dict) == ["name"]
    assert not ServiceToken.objects.exists()
    assert trail.actions() == []


@pytest.mark.parametrize("name", ["dana", "vera", "audrey", "ben"])
def test_only_the_teams_admins_issue_tokens(cast, ci, trail, name):
    with pytest.raises(PermissionDenied, match=r"Only admins of Credit Risk can issue its tokens\."):
        issue(getattr(cast, name), ci)

    assert not ServiceToken.objects.exists()
    assert trail.actions() == []


def test_a_superuser_issues_tokens_for_any_team(cast, ci, trail):
    issue(cast.admin, ci)

    assert trail.actions() == ["token.created"]


def test_tokens_are_issued_to_service_accounts_only(cast, trail):
    with pytest.raises(ValidationError, match=r"Tokens are issued to service accounts, not to people\."):
        issue(cast.alice, cast.dana)

    assert not ServiceToken.objects.exists()
    assert trail.actions() == []


def test_a_role_in_another_team_does_not_hand_that_team_the_accounts_tokens(cast, ci):
    # "Anti-Fraud" sorts before "Credit Risk": the account's team is the one it was made for, not the first by name.
    other = Team.objects.create(name="Anti-Fraud", slug="anti-fraud")
    Membership.objects.create(team=other, user=cast.ben, role=Role.ADMIN)
    with pytest.raises(ValidationError, match="svc-churn-ci is a service account of another team"):
        services.membership_grant(actor=Actor.of(cast.ben), team=other, user=ci, role=Role.VIEWER)
    Membership.objects.create(team=other, user=ci, role=Role.VIEWER)  # made some other way: still no hold on it

    with pytest.raises(PermissionDenied, match="Only admins of Credit Risk"):
        issue(cast.ben, ci)

    token, _ = issue(cast.alice, ci)
    with pytest.raises(PermissionDenied, match="Only admins of Credit Risk"):
        tokens.token_revoke(actor=Actor.of(cast.ben), token=token)


# Revoking


def test_revoking_is_audited_once(cast, issued, trail):
    token, _ = issued

    tokens.token_revoke(actor=Actor.of(cast.alice), token=token)
    revoked_at = ServiceToken.objects.get(pk=token.pk).revoked_at
    tokens.token_revoke(actor=Actor.of(cast.alice), token=token)

    assert revoked_at is not None
    assert ServiceToken.objects.get(pk=token.pk).revoked_at == revoked_at
    [event] = trail.events()
    assert event.action == "token.revoked"
    assert event.changes == {"account": [None, "svc-churn-ci"], "prefix": [None, token.prefix]}


@pytest.mark.parametrize("name", ["dana", "ben"])
def test_only_the_teams_admins_revoke_tokens(cast, issued, trail, name):
    token, _ = issued

    with pytest.raises(PermissionDenied, match=r"Only admins of Credit Risk can revoke its tokens\."):
        tokens.token_revoke(actor=Actor.of(getattr(cast, name)), token=token)

    assert ServiceToken.objects.get(pk=token.pk).revoked_at is None
    assert trail.actions() == []


# Authenticating


def test_a_good_token_authenticates_and_records_its_use(issued):
    token, plaintext = issued

    found = tokens.token_authenticate(plaintext)

    assert found == token
    assert found.account.username == "svc-churn-ci"
    assert ServiceToken.objects.get(pk=token.pk).last_used_at is not None


def _expire(token):
    ServiceToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def _revoke(token):
    ServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())


def _deactivate(token):
    User.objects.filter(pk=token.account_id).update(is_active=False)


@pytest.mark.parametrize(
    ("spoil", "change"),
    [
        ("wrong-secret", None),
        ("unknown-prefix", None),
        ("truncated", None),
        ("trailing-garbage", None),
        ("good", _expire),
        ("good", _revoke),
        ("good", _deactivate),
    ],
    ids=["wrong-secret", "unknown-prefix", "truncated", "trailing-garbage", "expired", "revoked", "deactivated"],
)
def test_a_bad_or_unusable_token_authenticates_nobody(issued, spoil, change):
    token, plaintext = issued
    secret = secret_of(plaintext)
    raw = {
        "wrong-secret": f"gpt_{token.prefix}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
        "unknown-prefix": f"gpt_{'0' * 8 if token.prefix != '0' * 8 else '1' * 8}_{secret}",
        "truncated": plaintext[:20],
        "trailing-garbage": plaintext + " x",
        "good": plaintext,
    }[spoil]
    if change:
        change(token)

    assert tokens.token_authenticate(raw) is None
    assert ServiceToken.objects.get(pk=token.pk).last_used_at is None


@pytest.mark.parametrize(
    "raw", [None, "", "gpt_", "gpt__", "Bearer gpt_abcdefgh_" + "x" * 43, "gpt_ABCDEFGH_" + "x" * 43, "ghp_" + "x" * 40]
)
def test_a_malformed_token_authenticates_nobody_without_a_query(raw, django_assert_num_queries, cast):
    with django_assert_num_queries(0):
        assert tokens.token_authenticate(raw) is None


def test_last_use_is_written_at_most_once_a_minute(issued, django_assert_num_queries):
    token, plaintext = issued

    with django_assert_num_queries(2):  # find the token, record its use
        tokens.token_authenticate(plaintext)
    first_use = ServiceToken.objects.get(pk=token.pk).last_used_at
    with django_assert_num_queries(1):  # within the minute: found, not written
        tokens.token_authenticate(plaintext)
    assert ServiceToken.objects.get(pk=token.pk).last_used_at == first_use

    ServiceToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    with django_assert_num_queries(2):
        tokens.token_authenticate(plaintext)
    assert ServiceToken.objects.get(pk=token.pk).last_used_at > first_use - timedelta(minutes=2)


def test_token_secrets_are_never_logged(cast, ci, caplog):
    with caplog.at_level(logging.DEBUG):
        token, plaintext = issue(cast.alice, ci)
        tokens.token_authenticate(plaintext)
        tokens.token_authenticate(plaintext[:-1] + "x")
        tokens.token_revoke(actor=Actor.of(cast.alice), token=token)
        tokens.token_authenticate(plaintext)

    logged = caplog.text + " ".join(repr(record.args) for record in caplog.records)
    for secret in (plaintext, secret_of(plaintext), token.secret_hash):
        assert secret not in logged


# The API's authentication class


class WhoAmI(APIView):
    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        actor = Actor.of(request.user)
        return Response({
            "username": request.user.username, "token": request.user.api_token.pk, "auth": request.auth.pk,
            "kind": actor.kind, "label": actor.label,
        })  # fmt: skip


def call(authorization=None):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    return WhoAmI.as_view()(APIRequestFactory().get("/whoami/", **headers)).render()


def test_a_bearer_token_authenticates_the_service_account_as_a_token_actor(issued):
    token, plaintext = issued

    response = call(f"Bearer {plaintext}")

    assert response.status_code == 200
    assert response.data == {
        "username": "svc-churn-ci", "token": token.pk, "auth": token.pk,
        "kind": "token", "label": f"svc-churn-ci (token {token.prefix})",
    }  # fmt: skip


@pytest.mark.parametrize("spoil", ["wrong-secret", "revoked", "malformed"])
def test_a_bad_bearer_token_is_a_401_problem(issued, spoil):
    token, plaintext = issued
    if spoil == "revoked":
        _revoke(token)
    authorization = {
        "wrong-secret": f"Bearer {plaintext[:-1]}{'A' if plaintext[-1] != 'A' else 'B'}",
        "revoked": f"Bearer {plaintext}",
        "malformed": "Bearer not-a-token",
    }[spoil]

    response = call(authorization)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.data["code"] == "authentication_failed"
    assert response.data["detail"] == "The token is unknown, expired or revoked."


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwYXNz", "Token abc"])
def test_without_a_bearer_header_the_class_steps_aside(issued, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    request = APIRequestFactory().get("/whoami/", **headers)

    assert ServiceTokenAuthentication().authenticate(request) is None
    response = call(authorization)
    assert response.status_code == 401
    assert response.data["code"] == "not_authenticated"
