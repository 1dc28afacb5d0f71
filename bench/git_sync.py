"""Git sync figures: first, no-change and incremental syncs of a big GTO repository, against plain Git as the floor.

    .venv/bin/python bench/git_sync.py [--commits 10000] [--tags 1000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/git_sync.py

Builds a bare repository with one `git fast-import` stream: N commits, each changing a model's metrics.json,
every 100th also govportal.yaml (three models, one version more each time); artifacts.yaml declares ten GTO
artifacts with MLmodel files; the annotated GTO tags are 80% registrations (`name@vX.Y.Z`), 1% deregistrations
and the rest stage assignments (`name#staging#N`, `name#prod#N`). Then, in a throw-away database (a temp SQLite
file, or a scratch database next to the one DATABASE_URL / --database-url names, dropped afterwards) and a temp
mirror directory, it times sync_repository(): the first sync (the fetch into the mirror timed apart), a sync with
nothing new, and syncs after 10 and after 100 new commits (one new tag per 5 commits). Each row gives SQL queries
and Git calls. The floor is `git log` over the branch plus `git for-each-ref refs/tags` on the same mirror, with
the sync's own formats (best of 5). Exit status 1 only when a sync fails; a missed goal is reported, not fatal.
"""

import argparse
import contextlib
import cProfile
import hashlib
import json
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")
os.environ |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # the figures, not the host's config

from apps.gitsync import git  # plain subprocess plumbing: importable before django.setup()
from bench.report import print_table

BASE = 1_700_000_000  # commit i is dated BASE + 60 i
WHO = "Dana Dev <dana@example.org>"
TEAM = "bench"
ARTIFACTS = tuple(f"gto-model-{n}" for n in range(10))
YAML_MODELS = ("Credit Scorecard", "Churn Predictor", "Fraud Screen")
MLMODEL = "artifact_path: model\nflavors:\n  python_function: {loader_module: mlflow.sklearn}\nrun_id: {run}\n"
CARD = "---\nlicense: apache-2.0\n---\n# {name}\n\nA benchmark model.\n"


# --- the repository ---------------------------------------------------------------------------------------------


def data(text: str) -> bytes:
    payload = text.encode()
    return b"data %d\n%s\n" % (len(payload), payload)


def govportal_yaml(change: int) -> str:
    """govportal.yaml after its `change`-th edit: each edit adds a version to one of the three models."""
    lines = ["models:"]
    for j, name in enumerate(YAML_MODELS):
        slug = name.lower().replace(" ", "-")
        lines += [f"  - name: {name}", f"    team: {TEAM}", "    risk_tier: medium", "    versions:"]
        for v in range((change - j) // 3 + 1 if change >= j else 0):
            digest = hashlib.sha256(f"{name} {v}".encode()).hexdigest()
            lines += [f"      - version: 1.{v}.0", f"        artifact_uri: s3://bench/{slug}/1.{v}.0/model.pkl",
                      f"        artifact_digest: sha256:{digest}", f"        metrics: {{auc: {0.7 + v / 1000:.3f}}}",
                      f"        model_card: models/{slug}/README.md"]  # fmt: skip
    return "\n".join(lines) + "\n"


def commit(i: int, start: str = "") -> bytes:
    """Commit number i (mark i + 1): a metrics.json change, plus govportal.yaml every 100th commit."""
    artifact = ARTIFACTS[i % len(ARTIFACTS)]
    files = {f"models/{artifact}/metrics.json": json.dumps({"step": i, "auc": 0.7 + i % 97 / 1000})}
    if i == 0:
        files["artifacts.yaml"] = "".join(f"{a}:\n  type: model\n  path: models/{a}\n  description: {a}\n"
                                          for a in ARTIFACTS)  # fmt: skip
        files |= {f"models/{a}/MLmodel": MLMODEL.replace("{run}", f"run{n}") for n, a in enumerate(ARTIFACTS)}
        files |= {f"models/{m.lower().replace(' ', '-')}/README.md": CARD.format(name=m) for m in YAML_MODELS}
    if i % 100 == 99:
        files["govportal.yaml"] = govportal_yaml(i // 100)
    stamp = f"{WHO} {BASE + 60 * i} +0000"
    out = f"commit refs/heads/main\nmark :{i + 1}\nauthor {stamp}\ncommitter {stamp}\n".encode() + data(f"step {i}")
    out += f"from {start}\n".encode() if start else b""
    return out + b"".join(f"M 100644 inline {path}\n".encode() + data(text) for path, text in files.items()) + b"\n"


def tag(name: str, i: int, when: int, message: str) -> bytes:
    return f"tag {name}\nfrom :{i + 1}\ntagger {WHO} {when} +0000\n".encode() + data(message)


def gto_tags(commits: int, count: int) -> tuple[list[bytes], dict]:
    """`count` GTO tags spread over the history, in time order, each stage/deregistration with its #counter."""
    registrations = count * 8 // 10
    deregistrations = count // 100
    stages = count - registrations - deregistrations
    regs = [(ARTIFACTS[r % len(ARTIFACTS)], f"v1.{r // len(ARTIFACTS)}.0", (r + 1) * commits // (registrations + 1))
            for r in range(registrations)]  # fmt: skip
    events = [(BASE + 60 * i + 10, a, f"@{v}", i, f"Registering artifact {a} version {v}") for a, v, i in regs]
    for j in range(stages):
        a, v, i = regs[j * registrations // stages]
        stage = ("staging", "prod")[j % 2]
        events.append((BASE + 60 * (i + 3) + 20, a, f"#{stage}#", i, f"Assigning stage {stage} to {a} version {v}"))
    for j in range(deregistrations):
        a, v, i = regs[j * registrations // deregistrations + registrations // deregistrations // 2]
        events.append((BASE + 60 * (i + 7) + 30, a, f"@{v}!#", i, f"Deregistering artifact {a} version {v}"))
    counters = dict.fromkeys(ARTIFACTS, 0)
    stream = []
    for when, a, suffix, i, message in sorted(events):
        counters[a] += 1
        stream.append(tag(f"{a}{suffix}{counters[a] if suffix.endswith('#') else ''}", i, when, message))
    return stream, {"registrations": registrations, "stage assignments": stages, "deregistrations": deregistrations}


def fast_import(remote: Path, stream: bytes) -> None:
    subprocess.run([git.GIT, f"--git-dir={remote}", "fast-import", "--quiet"], input=stream, check=True)  # noqa: S603


def extend(remote: Path, first: int, count: int) -> None:
    """`count` more commits from commit number `first`, and a registration + prod assignment per 10 commits."""
    stream = [commit(i, "refs/heads/main^0" if i == first else "") for i in range(first, first + count)]
    for t in range(0, count // 5, 2):
        i, a = first + 5 * t, ARTIFACTS[t // 2 % len(ARTIFACTS)]
        stream.append(tag(f"{a}@v2.{i}.0", i, BASE + 60 * i + 10, f"Registering artifact {a} version v2.{i}.0"))
        stream.append(tag(f"{a}#prod#{i}", i, BASE + 60 * i + 20, f"Assigning stage prod to {a} version v2.{i}.0"))
    fast_import(remote, b"".join(stream))


# --- measuring --------------------------------------------------------------------------------------------------


class Calls:
    """While active: SQL queries, Git subprocesses with their time, and the fetch's time.

    Queries are counted with connection.execute_wrapper, not CaptureQueriesContext: under DEBUG the query log keeps
    only the last 9,000 queries, so after the first sync CaptureQueriesContext would count 0.
    """

    def __init__(self):
        self.queries = self.git = 0
        self.git_seconds = self.fetch_seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        return execute(sql, params, many, context)

    @contextlib.contextmanager
    def active(self):
        from django.db import connection

        run = git._run

        def timed_run(args, *rest, **kwargs):
            started = time.perf_counter()
            try:
                return run(args, *rest, **kwargs)
            finally:
                self.git += 1
                self.git_seconds += time.perf_counter() - started
                self.fetch_seconds += time.perf_counter() - started if "fetch" in args else 0.0

        git._run = timed_run
        try:
            with connection.execute_wrapper(self):
                yield self
        finally:
            git._run = run


def timed_sync(repository_id: int, profile: bool = False) -> tuple[float, object, Calls]:
    """Sync once; (seconds, the SyncRun, its Calls). Exits with status 1 when the sync fails."""
    from apps.gitsync.models import SyncStatus, Trigger
    from apps.gitsync.sync import sync_repository

    profiler = cProfile.Profile() if profile else contextlib.nullcontext()
    with Calls().active() as calls:
        started = time.perf_counter()
        with profiler:
            run = sync_repository(repository_id, trigger=Trigger.SCHEDULE, requested_by="bench")
        seconds = time.perf_counter() - started
    if run is None or run.status == SyncStatus.FAILED:
        print(f"sync failed: {run and run.errors}", file=sys.stderr)
        sys.exit(1)
    if profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return seconds, run, calls


def floor_seconds(mirror: Path, runs: int = 5) -> float:
    """Best of `runs` of what plain Git needs to list the branch's commits, plus best of `runs` for the tags."""
    best = []
    for args in (["log", "-z", f"--format={git._LOG_FORMAT}", "refs/heads/main"],
                 ["for-each-ref", f"--format={git._TAG_FORMAT}", "refs/tags"]):  # fmt: skip
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([git.GIT, f"--git-dir={mirror}", *args], capture_output=True, check=True)  # noqa: S603
            times.append(time.perf_counter() - started)
        best.append(min(times))
    return sum(best)


def main(tmp: Path, commits: int, tags: int, profile: bool) -> None:
    from django.conf import settings
    from django.db import connection, transaction

    from apps.accounts.models import User
    from apps.accounts.services import team_create
    from apps.audit.actors import Actor
    from apps.gitsync.services import repository_create
    from apps.gitsync.sync import mirror_for

    remote, settings.GITSYNC_MIRROR_DIR = tmp / "remote.git", tmp / "mirrors"
    started = time.perf_counter()
    subprocess.run([git.GIT, "init", "--bare", "--quiet", "-b", "main", str(remote)], check=True)  # noqa: S603
    tag_stream, kinds = gto_tags(commits, tags)
    fast_import(remote, b"".join([*(commit(i) for i in range(commits)), *tag_stream]))
    build_seconds = time.perf_counter() - started

    admin = User.objects.create(username="bench-admin", is_superuser=True, is_staff=True)
    team = team_create(actor=Actor.of(admin), name="Bench", slug=TEAM)
    with transaction.atomic():
        repository, _ = repository_create(actor=Actor.of(admin), team=team, name="bench", url=f"file://{remote}")

    first = timed_sync(repository.pk, profile)
    unchanged = timed_sync(repository.pk, False)
    extend(remote, commits, 10)
    plus10 = timed_sync(repository.pk, profile)
    extend(remote, commits + 10, 100)
    plus100 = timed_sync(repository.pk, False)
    floor = floor_seconds(mirror_for(repository).path)

    def row(label: str, result, goal: str = "", met: bool | None = None) -> tuple:
        seconds, run, calls = result
        detail = (
            f"{seconds:.2f} s: {run.status}, {run.commits_read:,} commits read, {run.created:,} created, "
            f"{run.updated:,} updated; {calls.queries:,} SQL queries; {calls.git} git calls {calls.git_seconds:.2f} s"
        )
        return label, detail, goal, "" if met is None else ("PASS" if met else "MISS")

    per10, per100 = plus10[0] / 10, plus100[0] / 100
    proportional = plus100[0] <= 10 * plus10[0] and plus10[0] < first[0] / 10
    expected = kinds["registrations"] + commits // 100
    rows = [
        row(f"first sync (fetch {first[2].fetch_seconds:.2f} s; {expected:,} versions expected)", first, "< 15 s",
            first[0] < 15),
        row("no-change sync", unchanged, "< 0.3 s", unchanged[0] < 0.3),
        row("+10 commits, +2 tags", plus10),
        row("+100 commits, +20 tags", plus100),
        ("per new commit: +10 / +100", f"{per10 * 1000:.1f} ms / {per100 * 1000:.1f} ms (ratio {per10 / per100:.1f}); "
         f"marginal {(plus100[0] - plus10[0]) / 90 * 1000:.1f} ms", "+100 <= 10x +10, +10 < first / 10",
         "PASS" if proportional else "MISS"),
        ("floor: git log + git for-each-ref (best of 5)", f"{floor * 1000:.0f} ms", "", ""),
        ("first sync / floor", f"{first[0] / floor:,.0f}x", "", ""),
        ("no-change sync / floor", f"{unchanged[0] / floor:,.1f}x", "", ""),
    ]  # fmt: skip
    made = ", ".join(f"{n:,} {kind}" for kind, n in kinds.items())
    print(f"\nGit sync benchmark on {connection.vendor}: {commits:,} commits, {tags:,} GTO tags ({made}), "
          f"built by git fast-import in {build_seconds:.2f} s; load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print_table(("measure", "figure", "goal", "met"), rows)
    for _, run, _ in (first, unchanged, plus10, plus100):
        for message in [*run.errors, *run.warnings][:5]:
            print(f"  {run.status} run {run.pk}: {message}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000, help="commits in the repository (default 10,000)")
    parser.add_argument("--tags", type=int, default=1_000, help="GTO tags in the repository (default 1,000)")
    parser.add_argument("--database-url", help="PostgreSQL server to make the scratch database on (or DATABASE_URL)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the first and +10 syncs")
    options = parser.parse_args()
    if options.database_url:
        os.environ["DATABASE_URL"] = options.database_url

    import django

    django.setup()
    logging.disable(logging.WARNING)  # the sync's and the audit trail's per-event lines; failures still exit 1

    from django.db import connection

    from bench.throwaway import run_in_throwaway_database

    with tempfile.TemporaryDirectory(prefix="govportal-bench-git-") as directory:
        if connection.vendor == "sqlite":
            connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(directory) / "bench.sqlite3")
        run_in_throwaway_database(
            main, Path(directory), options.commits, options.tags, options.profile, label="gitsync"
        )
