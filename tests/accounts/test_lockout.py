"""Sign-in throttling: too many failures lock a username (or a client address) for a while, without a password check.

The counters live in the shared cache (tests/conftest.py empties it around each test); the limits are settings,
set small here where a test needs it.
"""

import time

import pytest
from django.test import Client

from apps.accounts import services
from apps.accounts.models import User
from apps.audit.actors import Actor
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
MISMATCH = "Your username and password did not match."
LOCKED = "Sign-in for this username is locked for 15 minutes"
ADDRESS_LOCKED = "Sign-in from your network address is locked for 15 minutes"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_IP_FAILURE_LIMIT = 20
    settings.LOGIN_LOCKOUT_SECONDS = 900


@pytest.fixture
def password_checks(monkeypatch):
    """Usernames whose password was actually checked (Django's ModelBackend calls User.check_password)."""
    checked = []
    original = User.check_password

    def spy(user, raw_password):
        checked.append(user.username)
        return original(user, raw_password)

    monkeypatch.setattr(User, "check_password", spy)
    return checked


def sign_in(client, username, password, address="192.0.2.10"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_thirty_wrong_passwords_are_answered_locked_after_the_fifth(cast, trail, client):
    responses = [sign_in(client, "dana", f"guess-{n}") for n in range(30)]

    assert [r.status_code for r in responses[:4]] == [200] * 4
    assert all(MISMATCH in r.text for r in responses[:4])
    assert {r.status_code for r in responses[4:]} == {429}
    assert all(LOCKED in r.text and MISMATCH not in r.text for r in responses[4:])
    assert "ask a portal administrator to unlock it" in responses[-1].text
    assert int(responses[-1]["Retry-After"]) > 0


def test_after_the_limit_even_the_right_password_is_refused_without_being_checked(cast, client, password_checks):
    for n in range(5):
        sign_in(client, "dana", f"guess-{n}")
    assert password_checks == ["dana"] * 5

    response = sign_in(client, "dana", PASSWORD)

    assert response.status_code == 429
    assert LOCKED in response.text
    assert "_auth_user_id" not in client.session
    assert password_checks == ["dana"] * 5  # refused before Django looked at the password


def test_each_lockout_is_recorded_once_and_the_failures_before_it_keep_their_events(cast, trail, client):
    for n in range(30):
        sign_in(client, "dana", f"guess-{n}")
    sign_in(client, "dana", PASSWORD)

    assert trail.actions() == ["user.login_failed"] * 5 + ["user.login_locked"]
    locked = trail.events(action="user.login_locked")[0]
    assert (locked.actor_kind, locked.actor_label, locked.target_label) == ("system", "auth", "dana")
    assert locked.changes["locked"] == [None, "username"]
    assert locked.changes["failures"] == [None, 5]
    assert locked.context["client_ip"] == "192.0.2.10"


def test_an_unknown_username_locks_the_same_way(cast, trail, client):
    responses = [sign_in(client, "nobody", f"guess-{n}") for n in range(6)]

    assert [r.status_code for r in responses] == [200] * 4 + [429] * 2
    assert LOCKED in responses[-1].text
    assert trail.actions() == ["user.login_failed"] * 5 + ["user.login_locked"]


def test_the_username_is_locked_whatever_its_case_and_other_people_still_sign_in(cast, client):
    for n in range(5):
        sign_in(client, "DANA", f"guess-{n}")

    assert sign_in(Client(), "dana", PASSWORD).status_code == 429
    assert sign_in(Client(), "rita", PASSWORD).status_code == 302


def test_a_successful_sign_in_starts_the_count_again(cast, client):
    for n in range(4):
        sign_in(client, "dana", f"guess-{n}")
    assert sign_in(Client(), "dana", PASSWORD).status_code == 302

    responses = [sign_in(client, "dana", f"again-{n}") for n in range(4)]

    assert [r.status_code for r in responses] == [200] * 4


def test_the_lock_lifts_by_itself_after_the_window(cast, trail, client, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 1
    for n in range(5):
        sign_in(client, "dana", f"guess-{n}")
    locked = sign_in(client, "dana", PASSWORD)
    assert locked.status_code == 429
    assert "locked for 1 minute " in locked.text  # the window rounds up to whole minutes

    time.sleep(1.1)
    response = sign_in(client, "dana", PASSWORD)

    assert response.status_code == 302
    assert trail.actions()[-1] == "user.logged_in"


def test_many_usernames_from_one_address_lock_the_address(cast, trail, client):
    for n in range(20):
        sign_in(client, f"someone-{n}", "guess", address="203.0.113.9")

    refused = sign_in(Client(), "vera", PASSWORD, address="203.0.113.9")
    elsewhere = sign_in(Client(), "vera", PASSWORD, address="198.51.100.4")

    assert refused.status_code == 429
    assert ADDRESS_LOCKED in refused.text
    assert elsewhere.status_code == 302
    assert trail.actions().count("user.login_failed") == 20
    [locked] = trail.events(action="user.login_locked")
    assert (locked.target_label, locked.changes["locked"], locked.changes["failures"]) == (
        "203.0.113.9",
        [None, "address"],
        [None, 20],
    )


def test_the_address_is_the_client_behind_a_trusted_proxy(cast, client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(20):
        client.post(
            LOGIN, {"username": f"someone-{n}", "password": "guess"},
            REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9",
        )  # fmt: skip

    via_proxy = Client().post(
        LOGIN, {"username": "vera", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.4"
    )
    attacker = Client().post(
        LOGIN, {"username": "vera", "password": PASSWORD}, REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )

    assert via_proxy.status_code == 302  # another client behind the same proxy
    assert attacker.status_code == 429


def test_a_portal_admin_unlocks_sign_in_in_the_admin_and_it_is_audited(cast, trail, client):
    for n in range(5):
        sign_in(client, "dana", f"guess-{n}")
    admin = Client()
    admin.force_login(cast.admin)

    response = admin.post(
        "/admin/accounts/user/", {"action": "unlock_sign_in", "_selected_action": [cast.dana.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "Unlocked sign-in for dana." in response.text
    [unlocked] = trail.events(action="user.unlocked")
    assert (unlocked.actor_id, unlocked.target_id) == (cast.admin.pk, str(cast.dana.pk))
    assert unlocked.changes["failed_attempts"] == [5, 0]
    assert sign_in(Client(), "dana", PASSWORD).status_code == 302


def test_unlocking_someone_who_is_not_locked_changes_nothing(cast, trail):
    assert services.user_unlock(actor=Actor.of(cast.admin), user=cast.rita) is False
    assert trail.actions() == []


def test_only_a_portal_admin_may_unlock(cast, trail, client):
    from django.core.exceptions import PermissionDenied

    for n in range(5):
        sign_in(client, "dana", f"guess-{n}")
    before = trail.actions()

    with pytest.raises(PermissionDenied):
        services.user_unlock(actor=Actor.of(cast.alice), user=cast.dana)

    assert trail.actions() == before
    assert sign_in(Client(), "dana", PASSWORD).status_code == 429
