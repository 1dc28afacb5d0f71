"""Deployments furniture: environments where a request with no policy is approved on submit, and a GitOps repo.

Production is unprotected here on purpose: approving is not what these tests are about, so a submitted request is
approved at once (through the real approvals service, which sends the real `request_approved` signal).
"""

from types import SimpleNamespace

import pytest
from django.db import transaction

from apps.approvals import services as approvals
from apps.audit.actors import Actor
from apps.deployments import services
from apps.inventory import services as inventory
from tests.gitsync.gitwork import Work

DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """No user or system Git config leaks into the tests."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def envs(cast):
    admin = Actor.of(cast.admin)
    return SimpleNamespace(
        staging=inventory.environment_save(actor=admin, name="staging", order=20, protected=False),
        production=inventory.environment_save(
            actor=admin, name="production", order=30, protected=False, rollout_grace_minutes=30
        ),
    )


def manifest(model: str, version: str, digest: str = "", name: str = "scorer", kind: str = "InferenceService") -> str:
    annotations = f"    govportal.io/model: {model}\n    govportal.io/version: '{version}'\n"
    if digest:
        annotations += f"    govportal.io/digest: sha256:{digest}\n"
    return (
        f"apiVersion: serving.kserve.io/v1beta1\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations:\n"
        f"{annotations}spec:\n  predictor:\n    model:\n      storageUri: s3://models/{model}/{version}\n"
    )


@pytest.fixture
def gitops(tmp_path):
    """The GitOps repository: a working repository that accepts pushes to its checked-out branch, as a server would."""
    work = Work(tmp_path / "deploy")
    work.git("config", "receive.denyCurrentBranch", "updateInstead")
    return work


def add_target(cast, envs, gitops, *, name="prod-gitops", paths=("prod/**/*.yaml",), **config):
    with transaction.atomic():
        return services.target_save(
            actor=Actor.of(cast.admin), name=name, environment=envs.production, team=cast.team_a, kind="gitops",
            config={"url": gitops.url, "paths": list(paths), **config},
        )  # fmt: skip


def approve(cast, version, environment, who=None):
    """A request for `version` in `environment`, approved on submit (no policy governs the unprotected env)."""
    with transaction.atomic():
        return approvals.request_deployment(
            actor=Actor.of(who or cast.dana), version=version, environment=environment, justification="Release."
        )
