"""Random bytes in every place a repository's author can put them — author and tagger names, commit and tag
messages, tag names, file contents — and the sync never raises, always records a run, and the next good commit
syncs. The objects are written with `git hash-object --literally`, so they are whatever Git stores, not only what
`git commit` would write."""

import itertools
import os
import subprocess

import pytest
import yaml
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.audit.actors import Actor
from apps.gitsync import services
from apps.gitsync.models import SyncStatus, Trigger
from apps.gitsync.sync import sync_repository
from apps.inventory.models import ModelVersion

pytestmark = pytest.mark.django_db

PATHS = ("govportal.yaml", "artifacts.yaml", "card.md", "models/churn/MLmodel", "models/churn/README.md")
GOOD = b"models:\n  - name: Churn Predictor\n    team: credit-risk\n    risk_tier: low\n    versions:\n"
GOOD += b"      - version: 9.9.9\n        model_card: card.md\n"
_counter = itertools.count()

# Scalars a YAML author can write: text with control characters, odd numbers, dates, nothing.
scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.dates().map(str),
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
models = st.fixed_dictionaries(
    {"name": scalars, "team": st.sampled_from(["credit-risk", "fraud"]) | scalars, "risk_tier": scalars},
    optional={
        "versions": st.lists(
            st.fixed_dictionaries(
                {"version": scalars},
                optional={
                    "metrics": documents,
                    "parameters": documents,
                    "model_card": st.sampled_from(PATHS) | scalars,
                },
            ),
            max_size=3,
        ),
        "intended_use": scalars,
    },
)
yaml_files = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda ms: {"models": ms}, st.lists(models, max_size=3)).map(lambda d: yaml.safe_dump(d).encode()),
    documents.map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
    st.builds(lambda d: b"---\n" + yaml.safe_dump(d).encode() + b"---\n# card\n", documents),
)
identities = st.binary(min_size=1, max_size=40)
commits = st.lists(
    st.tuples(identities, st.binary(max_size=80), st.dictionaries(st.sampled_from(PATHS), yaml_files, max_size=3)),
    min_size=1, max_size=3,
)  # fmt: skip
ref_names = st.binary(min_size=1, max_size=30).filter(lambda name: b"\x00" not in name)  # a ref name is a C string
gto_names = st.sampled_from([b"churn@v1.0.0", b"churn@v1.0.0!", b"churn#prod#1", b"churn#prod!#2", b"churn@deprecated"])
tags = st.lists(
    st.tuples(ref_names | gto_names, identities, st.binary(max_size=60), st.integers(0, 5),
              st.booleans()),
    max_size=4,
)  # fmt: skip


def git(path, *args, data: bytes | None = None, env=None, check=True) -> str:
    env = {**os.environ, **(env or {})}
    result = subprocess.run([b"git", *args], cwd=path, input=data, capture_output=True, check=check, env=env)
    return result.stdout.decode().strip() if result.returncode == 0 else ""


def build(path, planned_commits, planned_tags) -> None:
    """A bare repository holding exactly these commit and tag objects, byte for byte."""
    path.mkdir(parents=True)
    git(path, b"init", b"-q", b"--bare", b"-b", b"main")
    index = {"GIT_INDEX_FILE": str(path / "scratch-index")}
    shas, parent = [], None
    for number, (author, message, files) in enumerate(planned_commits):
        for name, content in files.items():
            blob = git(path, b"hash-object", b"-w", b"--stdin", data=content)
            git(path, b"update-index", b"--add", b"--cacheinfo", f"100644,{blob},{name}".encode(), env=index)
        tree = git(path, b"write-tree", env=index)
        when = b" %d +0000\n" % (1_700_000_000 + number * 60)
        raw = b"tree " + tree.encode() + b"\n" + (b"parent " + parent.encode() + b"\n" if parent else b"")
        raw += b"author " + author + b" <a@example.org>" + when + b"committer " + author + b" <a@example.org>" + when
        parent = git(
            path, b"hash-object", b"-t", b"commit", b"-w", b"--literally", b"--stdin", data=raw + b"\n" + message
        )
        shas.append(parent)
    git(path, b"update-ref", b"refs/heads/main", parent.encode())
    for name, tagger, message, target, annotated in planned_tags:
        obj = shas[target % len(shas)]
        if annotated:
            raw = b"object %s\ntype commit\ntag %s\ntagger %s <t@example.org> 1700009999 +0000\n\n%s" % (
                obj.encode(), name, tagger, message,
            )  # fmt: skip
            obj = git(path, b"hash-object", b"-t", b"tag", b"-w", b"--literally", b"--stdin", data=raw)
        git(path, b"update-ref", b"refs/tags/" + name, obj.encode(), check=False)  # Git refuses some names: fine


@settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
@given(planned_commits=commits, planned_tags=tags)
def test_random_bytes_never_break_a_sync_and_the_next_good_commit_syncs(cast, tmp_path, planned_commits, planned_tags):
    path = tmp_path / f"remote-{next(_counter)}.git"
    build(path, planned_commits, planned_tags)
    point = transaction.savepoint()  # each example starts from an empty inventory
    try:
        repository, _ = services.repository_create(
            actor=Actor.of(cast.admin), team=cast.team_a, name=path.name, url=f"file://{path}"
        )
        run = sync_repository(repository.pk, trigger=Trigger.SCHEDULE)
        assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.WARNING), run.errors
        assert not [
            message for message in run.errors + run.warnings if "could not be" in message or "internal" in message
        ]

        build_on(path, GOOD, b"# Churn\n")
        run = sync_repository(repository.pk, trigger=Trigger.MANUAL)
        assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.WARNING), run.errors
        good = ModelVersion.objects.get(model__name="Churn Predictor", version="9.9.9")
        assert good.model_card == "# Churn\n"
    finally:
        transaction.savepoint_rollback(point)


def build_on(path, govportal: bytes, card: bytes) -> None:
    """One ordinary commit on top: a good govportal.yaml and its card."""
    index = {"GIT_INDEX_FILE": str(path / "scratch-index")}
    for name, content in ((b"govportal.yaml", govportal), (b"card.md", card)):
        blob = git(path, b"hash-object", b"-w", b"--stdin", data=content)
        git(path, b"update-index", b"--add", b"--cacheinfo", b"100644," + blob.encode() + b"," + name, env=index)
    tree = git(path, b"write-tree", env=index)
    identity = {**index, "GIT_AUTHOR_NAME": "Dana", "GIT_AUTHOR_EMAIL": "d@x", "GIT_COMMITTER_NAME": "Dana",
                "GIT_COMMITTER_EMAIL": "d@x"}  # fmt: skip
    commit = git(path, b"commit-tree", tree.encode(), b"-p", b"main", b"-m", b"fix", env=identity)
    git(path, b"update-ref", b"refs/heads/main", commit.encode())
