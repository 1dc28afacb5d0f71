"""A real MLServer (Open Inference Protocol) observed by the worker: what it serves READY runs, and drift from it.

MLServer runs from its own cached virtualenv (tests/deployments/servers.py), one server for the module, serving two
models through a constant runtime the test writes. Each test starts from the same two models loaded.
"""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.credentials import Secret
from apps.audit.actors import Actor
from apps.deployments import services
from apps.deployments.adapters import TargetError, kserve
from apps.deployments.models import DeploymentTarget, DriftState, Running, TargetStatus
from apps.deployments.observing import TransientTargetError, observe_target, refresh_due
from tests.conftest import Trail

from . import servers
from .conftest import approve

SCORECARD, DETECTOR = "retail-scorecard", "card-fraud-detector"


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory, pytestconfig):
    repository = tmp_path_factory.mktemp("mlserver") / "models"
    _serve_defaults(repository)
    try:
        server = servers.start_mlserver(repository, say=servers.reporter(pytestconfig))
    except servers.Unavailable as exc:
        servers.unavailable(f"MLServer is not available: {exc}")
    with server:
        yield SimpleNamespace(server=server, url=server.url, repository=repository)


def _serve_defaults(repository):
    servers.write_constant_model(repository, SCORECARD, "1.0.0", versions=["1.0.0"])
    servers.write_constant_model(repository, DETECTOR, "3.0.0")  # metadata lists no versions


@pytest.fixture
def served(mlserver):
    """The module's server, with both models (re)loaded as written by default."""
    _serve_defaults(mlserver.repository)
    for name in (SCORECARD, DETECTOR):
        servers.mlserver_repository(mlserver.server, "load", name)
    return mlserver


def add_target(cast, envs, url, **config):
    with transaction.atomic():
        return services.target_save(
            actor=Actor.of(cast.admin), name="prod-mlserver", environment=envs.production, team=cast.team_a,
            kind="kserve-v2", config={"url": url, **config},
        )  # fmt: skip


def status_of(model, environment):
    state = DriftState.objects.filter(model=model, environment=environment).first()
    return state.status if state else None


def running(target):
    return {(row.model_key, row.version_label): row for row in Running.objects.filter(target=target, until=None)}


def test_ready_models_run_an_unloaded_one_stops_and_loading_it_back_resolves_the_drift(cast, models, envs, served):
    scorecard = models.scorecard
    request = approve(cast, scorecard.versions.get(version="1.0.0"), envs.production)
    target = add_target(cast, envs, served.url)

    observe_target(target.pk)

    target.refresh_from_db()
    assert (target.last_status, target.last_error) == (TargetStatus.OK, "")
    rows = running(target)
    assert set(rows) == {(SCORECARD, "1.0.0"), (DETECTOR, "3.0.0")}
    first = rows[(SCORECARD, "1.0.0")]
    assert (first.model, first.version.version, first.digest) == (scorecard, "1.0.0", "")
    assert first.location == "/v2/models/retail-scorecard/versions/1.0.0"
    assert rows[(DETECTOR, "3.0.0")].version == models.detector.versions.get(version="3.0.0")
    state = DriftState.objects.get(model=scorecard, environment=envs.production)
    assert state.status == "in_sync"
    assert state.reason == "1.0.0 runs on prod-mlserver as approved. (prod-mlserver reports no digest to compare.)"
    assert status_of(models.detector, envs.production) == "unapproved"  # served, never approved there

    servers.mlserver_repository(served.server, "unload", SCORECARD)
    trail = Trail()
    observe_target(target.pk)

    first.refresh_from_db()
    assert first.until is not None  # the interval closed, not deleted
    assert set(running(target)) == {(DETECTOR, "3.0.0")}
    assert status_of(scorecard, envs.production) == "rollout_pending"
    assert trail.actions() == ["deployment.observed"]  # pending is the normal course of things, not an exception
    refresh_due(now=request.closed_at + timedelta(minutes=31))
    assert status_of(scorecard, envs.production) == "rollout_overdue"

    servers.mlserver_repository(served.server, "load", SCORECARD)
    trail = Trail()
    observe_target(target.pk)

    assert status_of(scorecard, envs.production) == "in_sync"
    assert trail.actions() == ["deployment.drift_resolved"]
    assert Running.objects.filter(target=target, model=scorecard).count() == 2  # the old interval and a new one


def test_a_version_loaded_without_approval_is_flagged_once(cast, models, envs, served):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    target = add_target(cast, envs, served.url)
    observe_target(target.pk)
    servers.write_constant_model(served.repository, SCORECARD, "1.1.0", versions=["1.1.0"])
    servers.mlserver_repository(served.server, "load", SCORECARD)  # MLServer swaps 1.0.0 for 1.1.0

    trail = Trail()
    observe_target(target.pk)

    assert set(running(target)) == {(SCORECARD, "1.1.0"), (DETECTOR, "3.0.0")}
    assert status_of(models.scorecard, envs.production) == "unapproved"
    [event] = trail.events()
    assert event.action == "deployment.drift_detected"
    assert event.changes["status"] == ["in_sync", "unapproved"]
    assert event.changes["observed"] == [None, ["1.1.0 on prod-mlserver"]]


def test_listed_models_are_read_through_their_metadata_and_readiness(cast, models, envs, served):
    target = add_target(cast, envs, served.url, models=[SCORECARD, DETECTOR, "never-served"])

    observe_target(target.pk)

    target.refresh_from_db()
    assert target.last_status == TargetStatus.OK
    locations = {key: row.location for key, row in running(target).items()}
    assert locations == {
        (SCORECARD, "1.0.0"): "/v2/models/retail-scorecard/versions/1.0.0",  # its metadata lists 1.0.0, ready
        (DETECTOR, ""): "/v2/models/card-fraud-detector",  # ready, but its metadata names no version
    }
    servers.mlserver_repository(served.server, "unload", DETECTOR)
    observe_target(target.pk)
    assert set(running(target)) == {(SCORECARD, "1.0.0")}


def test_a_server_that_stops_answering_makes_the_target_unknown_and_keeps_what_was_last_seen(
    cast, models, envs, served
):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    target = add_target(cast, envs, served.url)
    observe_target(target.pk)
    [port] = servers.free_ports(1)  # nobody listens there: a server that was stopped
    DeploymentTarget.objects.filter(pk=target.pk).update(config={**target.config, "url": f"http://127.0.0.1:{port}"})

    with pytest.raises(TransientTargetError):  # the worker's task retries these
        observe_target(target.pk)

    target.refresh_from_db()
    assert target.last_status == TargetStatus.UNKNOWN
    assert target.last_error == f"could not connect to http://127.0.0.1:{port}: connection refused"
    assert status_of(models.scorecard, envs.production) == "unknown"
    assert len(running(target)) == 2  # last known state kept, not guessed away


def test_a_url_that_is_not_a_model_server_is_a_lasting_readable_error(cast, envs, served):
    target = add_target(cast, envs, f"{served.url}/not-here")

    observe_target(target.pk)  # not transient: no retry

    target.refresh_from_db()
    assert target.last_status == TargetStatus.UNKNOWN
    assert target.last_error == (
        f"no Open Inference Protocol server at {served.url}/not-here: GET /v2 answered HTTP 404"
    )


# -- HTTP behaviour, against a small scripted server ----------------------------------------------------------


class Scripted(ThreadingHTTPServer):
    """A loopback HTTP server answering each path as scripted, and noting each request's path and Authorization."""

    def __init__(self, script):
        self.script, self.seen = script, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                outer.seen.append((self.command, self.path, self.headers.get("Authorization")))
                status, headers, body = outer.script.get(self.path, (404, {}, b'{"error": "not found"}'))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


SECRET = Secret(username="x-access-token", value="s3cret-token-value", hosts=("127.0.0.1",))
SERVER_METADATA = (200, {"Content-Type": "application/json"}, b'{"name": "x", "version": "1", "extensions": []}')


def observe_at(url, secret=SECRET, **config):
    target = DeploymentTarget(kind="kserve-v2", config=kserve.clean_config({"url": url, **config}))
    return kserve.observe(target, secret, frozenset())


def test_the_token_goes_as_a_bearer_header_and_never_follows_a_redirect():
    with (
        Scripted({}) as elsewhere,
        Scripted({"/v2": (307, {"Location": f"{elsewhere.url}/v2"}, b"")}) as server,
        pytest.raises(TargetError) as exc,
    ):
        observe_at(server.url)

    assert str(exc.value) == (
        "GET /v2: the server answered with a redirect (HTTP 307) to http://127.0.0.1, which is not followed; "
        "give the server's final URL"
    )
    assert not exc.value.transient
    assert server.seen == [("GET", "/v2", "Bearer s3cret-token-value")]
    assert elsewhere.seen == []


def test_a_server_with_an_index_reports_only_ready_models():
    index = b'[{"name": "a", "version": "1", "state": "READY"}, {"name": "b", "version": "2", "state": "LOADING"}]'
    script = {"/v2": SERVER_METADATA, "/v2/repository/index": (200, {}, index)}
    with Scripted(script) as server:
        observed = observe_at(server.url, secret=None)
    assert [(o.model, o.version, o.digest) for o in observed] == [("a", "1", "")]
    assert [seen[2] for seen in server.seen] == [None, None]  # no credential, no header


@pytest.mark.parametrize(
    ("script", "message", "transient"),
    [
        ({"/v2": (503, {}, b"busy")}, "GET /v2: the server answered HTTP 503; will try again", True),
        ({"/v2": (401, {}, b"s3cret-token-value")}, "GET /v2: the server refused access (HTTP 401); check the "
         "target's credential", False),
        ({"/v2": (200, {}, b"<html>s3cret-token-value</html>")}, "GET /v2: the answer is not JSON", False),
        ({"/v2": SERVER_METADATA}, "offers no repository index (HTTP 404); list the models to check in the "
         "target's models field", False),
        ({"/v2": SERVER_METADATA, "/v2/repository/index": (200, {}, b'{"a": 1}')},
         "the repository index (POST /v2/repository/index): expected a list of models", False),
        ({"/v2": SERVER_METADATA, "/v2/repository/index": (200, {}, b'[{"state": "READY"}]')},
         "the repository index (POST /v2/repository/index): an entry has no model name", False),
    ],
)  # fmt: skip
def test_a_server_that_cannot_be_read_is_a_plain_error_without_the_secret(script, message, transient):
    with Scripted(script) as server, pytest.raises(TargetError) as exc:
        observe_at(server.url)
    assert message in str(exc.value)
    assert exc.value.transient is transient
    assert "s3cret" not in str(exc.value)


# -- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"config": {}}, "config", "url is required."),
        ({"config": {"url": "http://127.0.0.1:8080", "colour": 1}}, "config",
         "Unknown configuration fields: colour (allowed: models, url)."),
        ({"config": {"url": "grpc://127.0.0.1:8081"}}, "config", "url must be an http:// or https:// URL with a host."),
        ({"config": {"url": "http://127.0.0.1:99999"}}, "config", "url is not a valid URL."),
        ({"config": {"url": "https://user:password@models.example.com"}}, "config",
         "url must not hold a user name, password, query or fragment; use a granted credential."),
        ({"config": {"url": "http://127.0.0.1:8080", "models": {"a": 1}}}, "config", "models must be a list of text."),
        ({"credential": "GITHUB"}, "credential", "is sent only over https:// or ssh://"),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused_on_save_and_writes_nothing(cast, granted, envs, fields, field, message):
    trail = Trail()
    values = {"name": "prod-mlserver", "environment": envs.production, "team": cast.team_a, "kind": "kserve-v2",
              "config": {"url": "http://127.0.0.1:8080"}}  # fmt: skip
    values |= {key: granted.github if value == "GITHUB" else value for key, value in fields.items()}
    with pytest.raises(ValidationError) as exc, transaction.atomic():
        services.target_save(actor=Actor.of(cast.admin), **values)
    assert any(message in text for text in exc.value.message_dict[field]), exc.value.message_dict
    assert not DeploymentTarget.objects.exists() and trail.actions() == []
