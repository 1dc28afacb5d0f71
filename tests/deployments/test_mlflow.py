"""A real MLflow tracking server's Model Registry observed by the worker: the version behind an alias is what runs.

MLflow runs from its own cached virtualenv (tests/deployments/servers.py), one server for the module on a SQLite
file; each test starts with an empty registry and fills it through MLflow's REST API, as a data scientist's
scripts would.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.credentials import Secret
from apps.audit.actors import Actor
from apps.deployments import services
from apps.deployments.adapters import TargetError, mlflow
from apps.deployments.models import DeploymentTarget, DriftState, Running, TargetStatus
from apps.deployments.observing import TransientTargetError, observe_target
from tests.conftest import Trail

from . import servers
from .conftest import DIGEST_A, DIGEST_B, approve

SCORECARD, DETECTOR = "Retail Scorecard", "Card Fraud Detector"
ADMIN = ("admin", "correct-horse-battery-staple")


def _start(directory, pytestconfig, **options):
    try:
        return servers.start_mlflow(directory, say=servers.reporter(pytestconfig), **options)
    except servers.Unavailable as exc:
        servers.unavailable(f"MLflow is not available: {exc}")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory, pytestconfig):
    with _start(tmp_path_factory.mktemp("mlflow"), pytestconfig) as server:
        yield server


@pytest.fixture
def registry(mlflow_server):
    """The module's registry, emptied."""
    registry = servers.Registry(mlflow_server)
    registry.delete_all()
    return registry


def add_target(cast, envs, url, **config):
    with transaction.atomic():
        return services.target_save(
            actor=Actor.of(cast.admin), name="prod-mlflow", environment=envs.production, team=cast.team_a,
            kind="mlflow", config={"url": url, "alias": "production", **config},
        )  # fmt: skip


def register(registry, name, source, alias="production", **tags):
    """A new version of `name` (the model created if need be) with `tags`, and `alias` moved onto it."""
    if not registry.exists(name):
        registry.create_model(name)
    version = registry.create_version(name, source, tags)
    registry.set_alias(name, alias, version)
    return version


def status_of(model, environment):
    state = DriftState.objects.filter(model=model, environment=environment).first()
    return state.status if state else None


def running(target):
    return {(row.model_key, row.version_label): row for row in Running.objects.filter(target=target, until=None)}


def test_the_alias_on_the_approved_artifact_is_in_sync_and_a_rebuilt_artifact_is_a_digest_mismatch(
    cast, models, envs, registry
):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    register(registry, SCORECARD, "s3://models/scorecard/1.0.0",
             **{"govportal.version": "1.0.0", "govportal.digest": f"sha256:{DIGEST_A}"})  # fmt: skip
    target = add_target(cast, envs, registry.server.url)

    observe_target(target.pk)

    [row] = running(target).values()
    assert (row.model, row.version.version, row.digest) == (models.scorecard, "1.0.0", DIGEST_A)
    assert row.location == "Retail Scorecard@production"
    state = DriftState.objects.get(model=models.scorecard, environment=envs.production)
    assert (state.status, state.reason) == ("in_sync", "1.0.0 runs on prod-mlflow as approved.")

    register(registry, SCORECARD, "s3://models/scorecard/1.0.0-rebuilt",
             **{"govportal.version": "1.0.0", "govportal.digest": DIGEST_B.upper()})  # fmt: skip
    trail = Trail()
    observe_target(target.pk)

    state.refresh_from_db()
    assert state.status == "digest_mismatch"
    assert (state.evidence["observed_digest"], state.evidence["approved_digest"]) == (DIGEST_B, DIGEST_A)
    [event] = trail.events()
    assert event.action == "deployment.drift_detected"
    assert event.changes["status"] == ["in_sync", "digest_mismatch"]
    row.refresh_from_db()
    assert row.until is not None  # the first artifact's interval closed when the alias moved


def test_an_alias_moved_to_a_version_never_approved_is_unapproved(cast, models, envs, registry):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    register(registry, SCORECARD, "s3://models/scorecard/1.0.0",
             **{"govportal.version": "1.0.0", "govportal.digest": DIGEST_A})  # fmt: skip
    target = add_target(cast, envs, registry.server.url)
    observe_target(target.pk)
    register(registry, SCORECARD, "s3://models/scorecard/1.1.0",
             **{"govportal.version": "1.1.0", "govportal.digest": DIGEST_A})  # fmt: skip

    trail = Trail()
    observe_target(target.pk)

    assert set(running(target)) == {(SCORECARD, "1.1.0")}
    assert status_of(models.scorecard, envs.production) == "unapproved"
    [event] = trail.events()
    assert (event.action, event.changes["status"]) == ("deployment.drift_detected", ["in_sync", "unapproved"])
    assert event.changes["reason"][1] == "1.1.0 runs on prod-mlflow, but 1.0.0 is the version approved."


def test_listed_models_are_read_one_by_one_and_removing_the_alias_ends_the_interval(cast, models, envs, registry):
    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    register(registry, SCORECARD, "s3://models/scorecard/1.0.0", **{"govportal.version": "1.0.0", "sha256": DIGEST_A})
    register(registry, DETECTOR, "s3://models/fraud/3.0.0", alias="staging")  # another alias: not watched here
    target = add_target(cast, envs, registry.server.url, models=[SCORECARD, DETECTOR, "Never Registered"])

    observe_target(target.pk)

    target.refresh_from_db()
    assert (target.last_status, target.last_error) == (TargetStatus.OK, "")
    [row] = running(target).values()
    assert (row.version.version, row.digest) == ("1.0.0", DIGEST_A)  # the digest from the `sha256` tag

    registry.set_alias(DETECTOR, "production", "1")  # no tags: MLflow's version number, no digest
    registry.delete_alias(SCORECARD, "production")
    observe_target(target.pk)

    rows = running(target)
    assert set(rows) == {(DETECTOR, "1")}
    assert (rows[(DETECTOR, "1")].model, rows[(DETECTOR, "1")].version) == (models.detector, None)
    row.refresh_from_db()
    assert row.until is not None
    assert status_of(models.scorecard, envs.production) == "rollout_pending"
    assert status_of(models.detector, envs.production) == "unapproved"


def test_a_url_that_is_not_mlflow_or_a_stopped_server_makes_the_target_unknown(cast, envs, mlflow_server):
    target = add_target(cast, envs, f"{mlflow_server.url}/not-mlflow")

    observe_target(target.pk)  # a lasting error: not retried

    target.refresh_from_db()
    assert target.last_status == TargetStatus.UNKNOWN
    assert target.last_error == (
        f"no MLflow REST API at {mlflow_server.url}/not-mlflow: GET registered-models/search answered HTTP 404"
    )
    [port] = servers.free_ports(1)
    DeploymentTarget.objects.filter(pk=target.pk).update(config={**target.config, "url": f"http://127.0.0.1:{port}"})
    with pytest.raises(TransientTargetError):
        observe_target(target.pk)
    target.refresh_from_db()
    assert target.last_error == f"could not connect to http://127.0.0.1:{port}: connection refused"


# -- credentials, against MLflow's basic-auth app -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_with_auth(tmp_path_factory, pytestconfig):
    with _start(tmp_path_factory.mktemp("mlflow-auth"), pytestconfig, admin=ADMIN) as server:
        yield server


def test_a_credential_with_a_user_name_is_sent_as_basic_auth_and_a_refusal_names_no_secret(mlflow_with_auth):
    register(servers.Registry(mlflow_with_auth, auth=ADMIN), SCORECARD, "s3://models/scorecard/1.0.0")
    config = mlflow.clean_config({"url": mlflow_with_auth.url, "alias": "production"})
    target = DeploymentTarget(kind="mlflow", config=config)

    observed = mlflow.observe(target, Secret(username=ADMIN[0], value=ADMIN[1], hosts=("127.0.0.1",)), frozenset())

    assert [(o.model, o.version, o.location) for o in observed] == [(SCORECARD, "1", "Retail Scorecard@production")]
    for secret, hint in [
        (
            Secret(username=ADMIN[0], value="wrong-password-value", hosts=("127.0.0.1",)),
            "check the target's credential",
        ),
        (Secret(username="x-access-token", value="a-bearer-token-value", hosts=("127.0.0.1",)), "check the target's"),
        (None, "the target needs a credential"),
    ]:
        with pytest.raises(TargetError) as exc:
            mlflow.observe(target, secret, frozenset())
        assert str(exc.value).startswith("GET registered-models/search: the server refused access (HTTP 401); ")
        assert hint in str(exc.value) and not exc.value.transient
        assert secret is None or secret.value not in str(exc.value)


# -- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"alias": "production"}, "url is required."),
        ({"url": "http://127.0.0.1:5000"}, "alias is required."),
        ({"url": "http://127.0.0.1:5000", "alias": "production", "stage": "Production"},
         "Unknown configuration fields: stage (allowed: alias, models, url)."),
        ({"url": "http://127.0.0.1:5000", "alias": "prod uction"}, "alias must be an MLflow alias name"),
        ({"url": "http://127.0.0.1:5000", "alias": "latest"}, "not latest or v1"),
        ({"url": "http://127.0.0.1:5000", "alias": "V2"}, "not latest or v1"),
        ({"url": "mlflow.example.com", "alias": "production"}, "url must be an http:// or https:// URL with a host."),
        ({"url": "http://[::1", "alias": "production"}, "url is not a valid URL."),
        ({"url": "https://ds:hunter2@mlflow.example.com", "alias": "production"},
         "url must not hold a user name, password, query or fragment; use a granted credential."),
        ({"url": "http://127.0.0.1:5000", "alias": "production", "models": "a\nb"},
         "models has too many entries, or one that is too long."),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused_on_save_and_writes_nothing(cast, envs, config, message):
    trail = Trail()
    with pytest.raises(ValidationError) as exc, transaction.atomic():
        services.target_save(actor=Actor.of(cast.admin), name="prod-mlflow", environment=envs.production,
                             team=cast.team_a, kind="mlflow", config=config)  # fmt: skip
    assert any(message in text for text in exc.value.message_dict["config"]), exc.value.message_dict
    assert not DeploymentTarget.objects.exists() and trail.actions() == []


def test_an_approval_moves_the_alias_onto_the_approved_version_and_only_that_artifact(
    cast, models, envs, registry, django_capture_on_commit_callbacks
):
    from apps.deployments.models import Rollout, RolloutStatus

    approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)
    register(registry, SCORECARD, "s3://models/scorecard/1.0.0",
             **{"govportal.version": "1.0.0", "govportal.digest": DIGEST_A})  # fmt: skip
    target = add_target(cast, envs, registry.server.url)
    observe_target(target.pk)
    candidate = registry.create_version(SCORECARD, "s3://models/scorecard/1.1.0",
                                        {"govportal.version": "1.1.0", "govportal.digest": DIGEST_A})  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        request = approve(cast, models.scorecard.versions.get(version="1.1.0"), envs.production)

    rollout = Rollout.objects.get(request=request, target=target)
    assert (rollout.status, rollout.reference) == (RolloutStatus.SUCCEEDED, f"{SCORECARD}@production={candidate}")
    assert registry._call("GET", "registered-models/alias", name=SCORECARD, alias="production")["model_version"][
        "version"] == candidate  # fmt: skip
    assert status_of(models.scorecard, envs.production) == "in_sync"
    assert set(running(target)) == {(SCORECARD, "1.1.0")}


def test_a_version_whose_registry_digest_differs_from_the_approved_one_is_not_deployed(
    cast, models, envs, registry, django_capture_on_commit_callbacks
):
    from apps.deployments.models import Rollout, RolloutStatus

    first = register(registry, SCORECARD, "s3://models/scorecard/1.0.0",
                     **{"govportal.version": "1.0.0", "govportal.digest": DIGEST_B})  # fmt: skip
    add_target(cast, envs, registry.server.url)

    with django_capture_on_commit_callbacks(execute=True):
        request = approve(cast, models.scorecard.versions.get(version="1.0.0"), envs.production)

    rollout = Rollout.objects.get(request=request)
    assert rollout.status == RolloutStatus.FAILED
    assert f"has sha256:{DIGEST_B[:12]}…, not the approved sha256:{DIGEST_A[:12]}…" in rollout.detail
    assert registry._call("GET", "registered-models/alias", name=SCORECARD, alias="production")["model_version"][
        "version"] == first  # fmt: skip
