"""A team admin cannot make the worker send a server secret anywhere, read the server's disk, or keep a token in a URL.

Each test is an attack that worked before credentials were granted rather than named (issue: security).
"""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.accounts import services as accounts
from apps.accounts.models import GrantedCredential
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gitsync import services
from apps.gitsync.models import GitRepository, SyncStatus, Trigger
from apps.gitsync.sync import sync_repository
from tests.conftest import Trail

SECRET = "s3cr3t-server-key-do-not-leak"


class Listener(BaseHTTPRequestHandler):
    """An attacker's Git server: answers 401 Basic and writes down every Authorization header it is sent."""

    seen: list = []

    def do_GET(self):
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="x"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    Listener.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def create(actor, team, **fields):
    with transaction.atomic():
        repository, _ = services.repository_create(actor=Actor.of(actor), team=team, **fields)
    return repository


def sent_secret():
    return any(header and SECRET in base64.b64decode(header.split()[1]).decode() for header in Listener.seen)


def test_a_team_admin_cannot_aim_a_credential_of_another_team_at_their_own_host(cast, granted, listener, monkeypatch):
    monkeypatch.setenv("FRAUD_TOKEN", SECRET)
    trail = Trail()
    url = f"https://127.0.0.1:{listener}/x.git"
    with pytest.raises(ValidationError) as exc:
        create(cast.alice, cast.team_a, name="exfil", url=url, credential=granted.fraud)
    assert exc.value.message_dict["credential"] == [
        "The credential 'fraud-gh' is not granted to Credit Risk; ask a portal admin."
    ]
    assert not GitRepository.objects.exists() and trail.actions() == []


def test_a_granted_credential_is_never_saved_for_a_host_it_does_not_allow(cast, granted, listener):
    trail = Trail()
    with pytest.raises(ValidationError) as exc:
        create(
            cast.alice, cast.team_a, name="exfil", url=f"https://127.0.0.1:{listener}/x.git", credential=granted.github
        )
    assert exc.value.message_dict["credential"] == [
        f"The credential 'github-acme' may be sent only to github.com, not to 127.0.0.1:{listener}."
    ]
    assert not GitRepository.objects.exists() and trail.actions() == []


def test_a_sync_never_sends_the_secret_to_a_host_the_credential_does_not_allow(cast, granted, listener, monkeypatch):
    """Even a row changed behind the service's back (or hosts narrowed later) makes the worker refuse, not send."""
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    repository = create(cast.alice, cast.team_a, name="churn", url="https://github.com/acme/churn.git",
                        credential=granted.github)  # fmt: skip
    GitRepository.objects.filter(pk=repository.pk).update(url=f"https://127.0.0.1:{listener}/x.git")

    run = sync_repository(repository.pk, trigger=Trigger.MANUAL)

    assert run.status == SyncStatus.FAILED
    assert run.errors == [
        f"could not read the repository: the credential 'github-acme' may be sent only to github.com, "
        f"not to 127.0.0.1:{listener}"
    ]
    assert Listener.seen == [] and not sent_secret()


def test_plain_http_never_gets_the_secret_even_on_an_allowed_host(cast, listener, monkeypatch):
    """(That the secret does reach an allowed host through GIT_ASKPASS is tests/gitsync/test_git.py's.)"""
    monkeypatch.setenv("GIT_TOKEN_LOCAL", SECRET)
    credential = accounts.credential_save(
        actor=Actor.of(cast.admin), credential=None, teams=[cast.team_a], name="local-https",
        reference="env:GIT_TOKEN_LOCAL", allowed_hosts=f"127.0.0.1:{listener}",
    )  # fmt: skip
    # Saved as https (the only way the service accepts it), then downgraded behind its back.
    repository = create(cast.alice, cast.team_a, name="churn", url=f"https://127.0.0.1:{listener}/x.git",
                        credential=credential)  # fmt: skip
    GitRepository.objects.filter(pk=repository.pk).update(url=f"http://127.0.0.1:{listener}/x.git")

    run = sync_repository(repository.pk, trigger=Trigger.MANUAL)

    assert run.status == SyncStatus.FAILED
    assert "sent only over https:// or ssh://" in run.errors[0]  # plain http never gets the secret either
    assert not sent_secret()


def test_a_disabled_credential_is_refused_with_what_to_do(cast, granted, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    repository = create(cast.alice, cast.team_a, name="churn", url="https://github.com/acme/churn.git",
                        credential=granted.github)  # fmt: skip
    GrantedCredential.objects.filter(pk=granted.github.pk).update(enabled=False)

    run = sync_repository(repository.pk, trigger=Trigger.MANUAL)

    assert run.errors == [
        "could not read the repository: the credential 'github-acme' is disabled; a portal admin must enable it "
        "(check its reference and hosts in /admin/) before it is used"
    ]


def test_a_missing_secret_is_a_readable_error_naming_no_server_resource(cast, granted, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repository = create(cast.alice, cast.team_a, name="churn", url="https://github.com/acme/churn.git",
                        credential=granted.github)  # fmt: skip

    run = sync_repository(repository.pk, trigger=Trigger.MANUAL)

    assert run.errors == ["could not read the repository: the credential 'github-acme' is not set up on this worker"]
    assert "GITHUB_TOKEN" not in run.errors[0]  # the team sees the credential's name, not the variable


# --- only portal admins define credentials, and every definition is audited ------------------------------------------


@pytest.mark.parametrize("name", ["alice", "ben", "dana"])
def test_only_portal_admins_define_credentials(cast, name):
    trail = Trail()
    with pytest.raises(PermissionDenied):
        accounts.credential_save(
            actor=Actor.of(getattr(cast, name)), credential=None, teams=[cast.team_a], name="mine",
            reference="env:SECRET_KEY", allowed_hosts="127.0.0.1",
        )  # fmt: skip
    assert not GrantedCredential.objects.exists() and trail.actions() == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"reference": "ghp_abc123"}, "reference", "env:VARIABLE_NAME or file:/absolute/path"),
        ({"reference": "file:relative/token"}, "reference", "env:VARIABLE_NAME or file:/absolute/path"),
        ({"reference": "env:"}, "reference", "env:VARIABLE_NAME or file:/absolute/path"),
        ({"allowed_hosts": ""}, "allowed_hosts", "Name at least one host"),
        ({"allowed_hosts": "*.example.com"}, "allowed_hosts", "Not a host name: *.example.com"),
        ({"allowed_hosts": "https://github.com"}, "allowed_hosts", "Not a host name"),
        ({"name": ""}, "name", "This field cannot be blank."),
    ],
)
def test_bad_credential_definitions_are_refused_and_write_nothing(cast, fields, field, message):
    trail = Trail()
    defaults = {"name": "github", "reference": "env:GITHUB_TOKEN", "allowed_hosts": "github.com"}
    with pytest.raises(ValidationError) as exc:
        accounts.credential_save(actor=Actor.of(cast.admin), credential=None, teams=[], **(defaults | fields))
    assert any(message in text for text in exc.value.message_dict[field])
    assert not GrantedCredential.objects.exists() and trail.actions() == []


def test_defining_and_editing_a_credential_is_audited_with_the_diff(cast):
    trail = Trail()
    credential = accounts.credential_save(
        actor=Actor.of(cast.admin), credential=None, teams=[cast.team_a], name="github",
        reference="env:GITHUB_TOKEN", allowed_hosts="GitHub.com\nghe.example.com:8443",
    )  # fmt: skip
    accounts.credential_save(actor=Actor.of(cast.admin), credential=credential, teams=[cast.team_a, cast.team_b])
    accounts.credential_save(actor=Actor.of(cast.admin), credential=credential, teams=[cast.team_a, cast.team_b])

    created, updated = trail.events()
    assert created.action == "credential.created" and updated.action == "credential.updated"
    assert created.changes["allowed_hosts"] == [None, ["ghe.example.com:8443", "github.com"]]
    assert created.changes["reference"] == [None, "env:GITHUB_TOKEN"]  # where it lives, never the secret
    assert updated.changes == {"teams": [["Credit Risk"], ["Credit Risk", "Fraud"]]}


def test_the_admin_pages_define_credentials_through_the_audited_service(cast, client):
    client.force_login(cast.admin)
    trail = Trail()
    response = client.post("/admin/accounts/grantedcredential/add/", {
        "name": "github", "reference": "env:GITHUB_TOKEN", "username": "", "allowed_hosts": "github.com",
        "teams": [cast.team_a.pk], "enabled": "on", "description": "",
    })  # fmt: skip
    assert response.status_code == 302
    credential = GrantedCredential.objects.get()
    assert list(credential.teams.all()) == [cast.team_a] and credential.allowed_hosts == ["github.com"]
    assert trail.actions() == ["credential.created"]

    client.force_login(cast.alice)  # a team admin is no portal admin
    assert client.get("/admin/accounts/grantedcredential/").status_code in (302, 403)


# --- local repositories are a portal-admin feature, off by default ---------------------------------------------------


def test_local_repositories_are_off_unless_the_operator_turns_them_on(cast, settings, remote):
    settings.GITSYNC_ALLOW_LOCAL = False
    trail = Trail()
    for url in (remote.url, str(remote.path)):
        with pytest.raises(ValidationError) as exc:
            create(cast.admin, cast.team_a, name="local", url=url)
        assert "turned off on this portal (GITSYNC_ALLOW_LOCAL)" in exc.value.message_dict["url"][0]
    assert trail.actions() == []


def test_a_team_admin_cannot_read_another_teams_mirror(cast, settings, remote):
    """The finding: a local path to another team's mirror made its models' names appear in the run's messages."""
    remote.commit("one", files={"govportal.yaml": "models:\n  - name: Secret Fraud Model\n    team: fraud\n"})
    theirs = create(cast.admin, cast.team_b, name="fraud-models", url=remote.url)
    sync_repository(theirs.pk, trigger=Trigger.MANUAL)
    mirror = next(settings.GITSYNC_MIRROR_DIR.glob(f"{theirs.pk}-*.git"))
    trail = Trail()

    with pytest.raises(ValidationError) as exc:
        create(cast.alice, cast.team_a, name="peek", url=str(mirror))
    assert exc.value.message_dict["url"] == ["Only portal administrators may register a local repository."]
    with pytest.raises(ValidationError) as exc:  # not even a portal admin may point at the mirrors
        create(cast.admin, cast.team_a, name="peek", url=f"file://{mirror}")
    assert exc.value.message_dict["url"] == ["The portal's own mirror directory is not a repository source."]
    assert trail.actions() == []


def test_a_sync_refuses_a_local_source_once_the_operator_turns_them_off(cast, settings, remote):
    remote.commit("one")
    repository = create(cast.admin, cast.team_a, name="local", url=remote.url)
    settings.GITSYNC_ALLOW_LOCAL = False

    run = sync_repository(repository.pk, trigger=Trigger.MANUAL)

    assert run.status == SyncStatus.FAILED
    assert "turned off on this portal" in run.errors[0]


# --- secrets in URLs are refused and never stored, logged or audited --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://host.example/o/r.git?access_token=tok-123456", "tok-123456"),
        ("https://x-access-token:tok-123456@github.com/o/r.git", "tok-123456"),
        ("https://tok-123456@github.com/o/r.git", "tok-123456"),
        ("ssh://git:tok-123456@github.com/o/r.git", "tok-123456"),
        ("user:tok-123456@github.com:org/repo.git", "tok-123456"),
        ("https://github.com/o/r.git#tok-123456", "tok-123456"),
    ],
)
def test_credentials_in_a_url_are_refused_and_never_kept(cast, caplog, url, secret):
    trail = Trail()
    with pytest.raises(ValidationError) as exc:
        create(cast.alice, cast.team_a, name="leaky", url=url)
    assert "url" in exc.value.message_dict
    assert secret not in str(exc.value)
    assert not GitRepository.objects.exists() and trail.actions() == []
    assert not AuditEvent.objects.filter(changes__icontains=secret).exists()
    assert secret not in caplog.text


def test_ssh_with_a_user_name_is_fine(cast):
    repository = create(cast.alice, cast.team_a, name="ssh", url="git@github.com:acme/models.git")
    assert repository.url == "git@github.com:acme/models.git"


def test_credential_events_are_for_portal_auditors_only(cast):
    from apps.accounts.models import User
    from apps.audit.selectors import audit_event_list

    accounts.credential_save(actor=Actor.of(cast.admin), credential=None, teams=[cast.team_a], name="github",
                             reference="env:GITHUB_TOKEN", allowed_hosts="github.com")  # fmt: skip
    assert not audit_event_list(user=cast.audrey, action="credential.").exists()  # a team auditor
    assert not audit_event_list(user=cast.alice, action="credential.").exists()  # a team admin
    User.objects.filter(pk=cast.audrey.pk).update(is_portal_auditor=True)
    cast.audrey.refresh_from_db()
    assert audit_event_list(user=cast.audrey, action="credential.").count() == 1
