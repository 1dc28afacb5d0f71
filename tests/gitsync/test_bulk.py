"""A first sync registers the versions GTO tags name in bulk: a fixed number of SQL statements per model and chunk,
whatever the number of versions, with every version still its own `version.created` event on a valid chain."""

import math
import subprocess

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.verification import verify_chain
from apps.gitsync import git, services
from apps.gitsync.applying import Applier
from apps.gitsync.models import SyncStatus, Trigger
from apps.gitsync.sync import CHUNK, sync_repository
from apps.inventory.models import ModelVersion
from tests.conftest import Trail

from .gitwork import BASE, Work

pytestmark = pytest.mark.django_db


def gto_remote(path, versions: int, *, artifact: str = "churn", artifacts: int = 1, odd_version: str = "") -> Work:
    """`versions` commits, each registered as a version of `artifact` (or of `artifact`-0, -1, ... in turn) by GTO's
    annotated tag, every third one also put in prod; with `odd_version`, one more registration of that version.
    One `git fast-import`, tags as GTO writes them."""
    remote = Work(path)
    stream, names = [], [f"v1.0.{n}" for n in range(1, versions + 1)] + ([odd_version] if odd_version else [])
    artifact_names = [artifact] if artifacts == 1 else [f"{artifact}-{k}" for k in range(artifacts)]

    def data(text: str) -> str:
        return f"data {len(text.encode())}\n{text}\n"

    for n, version in enumerate(names, start=1):
        name = artifact_names[n % artifacts]
        who = f"Dana Dev <dana@example.org> {BASE + n * 60} +0000"
        stream.append(f"commit refs/heads/main\nmark :{n}\nauthor {who}\ncommitter {who}\n" + data(f"train {n}"))
        if n == 1:
            declared = "".join(f"{a}:\n  type: model\n  path: models/{a}\n  description: {a}\n" for a in artifact_names)
            stream.append("M 644 inline artifacts.yaml\n" + data(declared))
        stream.append(f"M 644 inline models/{name}/weights.txt\n" + data(f"weights {n}\n"))
        message = f"Registering artifact {name} version {version}\n"
        stream.append(f"tag {name}@{version}\nfrom :{n}\ntagger {who}\n" + data(message))
        if n % 3 == 0:
            who = f"Dana Dev <dana@example.org> {BASE + n * 60 + 1} +0000"
            message = f"Assigning stage prod to artifact {name} version {version}\n"
            stream.append(f"tag {name}#prod#{n // 3}\nfrom :{n}\ntagger {who}\n" + data(message))
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=remote.path, input="".join(stream).encode(), check=True,
        capture_output=True,
    )  # fmt: skip
    return remote


def make_repository(cast, remote, name="churn"):
    with transaction.atomic():
        repository, _ = services.repository_create(
            actor=Actor.of(cast.admin), team=cast.team_a, name=name, url=remote.url
        )
    return repository


def counted_sync(repository, status=SyncStatus.SUCCEEDED) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as queries:
        run = sync_repository(repository.pk, trigger=Trigger.SCHEDULE, requested_by="test")
    assert run.status == status, (run.errors, run.warnings)
    return run, len(queries)


def first_and_noop_queries(cast, tmp_path, versions: int) -> tuple[int, int]:
    remote = gto_remote(tmp_path / f"r{versions}", versions, artifact=f"churn-{versions}")
    run, first = counted_sync(make_repository(cast, remote, name=f"churn {versions}"))
    assert run.created == versions
    _, noop = counted_sync(run.repository, SyncStatus.UNCHANGED)
    return first, noop


def test_a_first_sync_makes_as_many_queries_for_forty_versions_as_for_ten(cast, tmp_path):
    ten = first_and_noop_queries(cast, tmp_path, 10)
    forty = first_and_noop_queries(cast, tmp_path, 40)

    assert CHUNK >= 40
    assert forty == ten  # first sync and no-op alike; both are within one chunk of CHUNK versions
    assert ten[1] <= 10


def test_each_further_chunk_of_versions_costs_the_same_few_queries(cast, tmp_path, monkeypatch):
    chunk = 40  # smaller than the default, for a quicker test
    monkeypatch.setattr("apps.gitsync.sync.CHUNK", chunk)
    sizes = (chunk - 5, 2 * chunk - 5, 3 * chunk - 5)  # one, two and three chunks
    counts = []
    for size in sizes:
        remote = gto_remote(tmp_path / f"r{size}", size, artifact=f"churn-{size}")
        counts.append(counted_sync(make_repository(cast, remote, name=f"churn {size}"))[1])

    per_chunk = counts[1] - counts[0]
    assert counts[2] - counts[1] == per_chunk
    assert per_chunk <= 12  # lock the models, check, insert the versions, append their events: not per version


# A first sync within one chunk, in the test's transaction: set up the run (5), load the repository's models (1),
# register the new models in one bulk write (12 with their audit append and savepoints), their versions in another
# (11: lock the models, versions taken, INSERT, the chain head, the events, the head's and the models' UPDATEs, and
# savepoints), the tags it saw (2) and the run's end (5).
FIRST_SYNC_QUERIES = 36


def version_insert_statements(count: int) -> int:
    """How many INSERTs bulk_create writes `count` versions in: one on PostgreSQL; SQLite caps a statement's
    parameters, so there a batch of many versions takes several."""
    fields = [field for field in ModelVersion._meta.concrete_fields if not field.primary_key]
    return math.ceil(count / connection.ops.bulk_batch_size(fields, [None] * count))


def test_a_first_sync_writes_the_versions_of_many_models_in_the_queries_of_one(cast, tmp_path, monkeypatch):
    monkeypatch.setattr("apps.gitsync.sync.CHUNK", 50)
    counts = []
    for artifacts in (2, 12):
        remote = gto_remote(tmp_path / f"r{artifacts}", 48, artifact=f"fleet{artifacts}", artifacts=artifacts)
        run, queries = counted_sync(make_repository(cast, remote, name=f"fleet {artifacts}"))
        assert run.created == 48
        assert ModelVersion.objects.filter(model__name__startswith=f"fleet{artifacts}-").count() == 48
        counts.append(queries)

    expected = FIRST_SYNC_QUERIES + version_insert_statements(48) - 1
    assert counts == [expected, expected]


def test_a_chunk_of_versions_costs_the_same_few_queries_however_many_models_it_spans(cast, tmp_path, monkeypatch):
    monkeypatch.setattr("apps.gitsync.sync.CHUNK", 8)
    counts = []
    for artifacts in (2, 12):
        remote = gto_remote(tmp_path / f"r{artifacts}", 48, artifact=f"fleet{artifacts}", artifacts=artifacts)
        run, queries = counted_sync(make_repository(cast, remote, name=f"fleet {artifacts}"))
        assert run.created == 48
        counts.append(queries)

    assert counts == [FIRST_SYNC_QUERIES + 5 * 11] * 2  # six chunks of eight versions, each 11 queries


def test_every_version_of_a_bulk_sync_has_its_own_event_naming_its_commit_on_a_valid_chain(cast, tmp_path):
    remote = gto_remote(tmp_path / "remote", 7)
    repository = make_repository(cast, remote)
    trail = Trail()

    run, _ = counted_sync(repository)

    versions = {str(v.pk): v for v in ModelVersion.objects.filter(model__name="churn")}
    events = trail.events(action=Action.VERSION_CREATED)
    assert sorted(event.target_id for event in events) == sorted(versions)
    for event in events:
        version = versions[event.target_id]
        assert event.context["commit"] == version.git_commit_sha
        assert (event.context["sync_run"], event.actor_label) == (run.pk, "git-sync")
        assert event.changes["git_commit_sha"] == [None, version.git_commit_sha]
        assert event.changes["version"] == [None, version.version]
    assert [v.stages for v in sorted(versions.values(), key=lambda v: v.git_committed_at)] == [
        [],
        [],
        [],
        [],
        [],
        ["prod"],
        [],
    ]  # fmt: skip: as GTO, the newest assignment holds the stage
    assert verify_chain().ok


def one_by_one(self, items):
    """The sync's registration before the bulk path: one service call, one transaction, per version."""
    for model, version, where, commit, fields in items:
        self.version(model, version, where=where, commit=commit, fields=fields)


def recorded(trail, run) -> list[tuple]:
    """The sync's events, without what differs between two runs of it (their ids and the chain's hashes)."""
    rows = []
    for event in trail.events():
        context = {key: value for key, value in event.context.items() if key not in ("sync_run", "request_id")}
        rows.append((event.action, event.target_label, event.changes, context))
    assert {event.context["sync_run"] for event in trail.events()} == {run.pk}
    return rows


def test_the_bulk_path_records_exactly_the_events_the_one_by_one_path_did(cast, tmp_path, monkeypatch):
    repository = make_repository(cast, gto_remote(tmp_path / "remote", 12, artifacts=3))
    with transaction.atomic():
        trail = Trail()
        run, _ = counted_sync(repository)
        bulk = recorded(trail, run)
        transaction.set_rollback(True)  # the same first sync again, the old way

    monkeypatch.setattr(Applier, "new_versions", one_by_one)
    monkeypatch.setattr(Applier, "new_models", lambda self, specs: None)  # model() registers each one, as it did
    trail = Trail()
    run, _ = counted_sync(repository)

    assert sorted(action for action, *_ in bulk) == [Action.MODEL_REGISTERED] * 3 + [Action.VERSION_CREATED] * 12
    # The same events; only their order differs: the bulk path registers every new model before their versions.
    assert sorted(recorded(trail, run), key=repr) == sorted(bulk, key=repr)


def test_a_version_the_inventory_refuses_fails_alone_and_the_others_are_written_in_bulk(cast, tmp_path):
    odd = "v1.0." + "9" * 70  # GTO's tag grammar takes it; the inventory keeps versions to 64 characters
    repository = make_repository(cast, gto_remote(tmp_path / "remote", 5, odd_version=odd))
    trail = Trail()

    run = sync_repository(repository.pk, trigger=Trigger.SCHEDULE, requested_by="test")

    assert run.status == SyncStatus.WARNING
    assert run.created == 5
    assert len(run.errors) == 1
    assert run.errors[0].startswith(f"tag churn@{odd}: churn {odd} not registered: version: ")
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == [f"v1.0.{n}" for n in range(1, 6)]
    assert trail.actions() == [Action.MODEL_REGISTERED] + [Action.VERSION_CREATED] * 5
    assert verify_chain().ok


def test_a_no_op_sync_fetches_nothing_opens_no_tag_and_walks_no_model_yet_a_new_tag_on_the_same_head_is_synced(
    cast, tmp_path, monkeypatch
):
    remote = gto_remote(tmp_path / "remote", 4)
    repository = make_repository(cast, remote)
    counted_sync(repository)

    def no_tags(self, skipped=None):
        raise AssertionError("a sync with nothing new fetched, read the tags or loaded the models")

    monkeypatch.setattr(git.Mirror, "tags", no_tags)
    monkeypatch.setattr(git.Mirror, "fetch", no_tags)  # ls-remote said nothing moved: nothing to fetch
    monkeypatch.setattr(Applier, "__post_init__", no_tags)  # nor loaded the repository's models
    trail = Trail()

    run, _ = counted_sync(repository, SyncStatus.UNCHANGED)

    assert trail.events() == []
    monkeypatch.undo()
    first = remote.git("rev-parse", "churn@v1.0.1^{commit}")
    remote.git("tag", "-f", "-a", "churn#staging#9", "-m", "Assigning stage staging", first)  # same head, new tag

    run = sync_repository(repository.pk, trigger=Trigger.SCHEDULE, requested_by="test")

    assert run.status == SyncStatus.SUCCEEDED, (run.errors, run.warnings)
    assert ModelVersion.objects.get(version="v1.0.1").stages == ["staging"]
