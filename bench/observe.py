"""Observation figures: how fast the workers can observe targets, and that each costs a fixed number of queries.

    .venv/bin/python bench/observe.py [--targets 1000] [--models 10] [--gitops 50]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/observe.py

In a throw-away database it registers `--models` models per target (each with two versions) and `--targets`
targets, then measures two things:
  1. The portal's side of an observation (observing.observation_apply with what an adapter returned) for every
     target: the first observation (every interval opened, every drift status judged and audited), a second with
     nothing changed, and a third where one model per target moved to a version nobody approved. It prints
     observations/s and SQL queries per observation for each.
  2. End to end through the real gitops adapter (Git fetch, ls-tree, cat-file, YAML), for `--gitops` targets
     that each read their own environment folder of one local repository: observations/s and queries.
The goal the issue sets: queries per observation do not grow with the number of targets or models.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")
os.environ |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GITSYNC_ALLOW_LOCAL": "1"}

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench.report import print_table  # noqa: E402
from bench.throwaway import run_in_throwaway_database  # noqa: E402

DIGEST = "c" * 64


class Counter:
    """Counts the SQL statements run inside it (an execute wrapper: no query log to overflow)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        self._context = connection.execute_wrapper(self)
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


def setup(n_targets: int, n_models: int):
    from apps.accounts.models import Team, User
    from apps.audit.actors import Actor
    from apps.deployments import services
    from apps.inventory import services as inventory

    admin = User.objects.create(username="bench-admin", is_superuser=True, is_staff=True)
    team = Team.objects.create(name="Bench", slug="bench")
    actor = Actor.of(admin)
    environment = inventory.environment_save(actor=actor, name="production", order=30, protected=False)
    with transaction.atomic():
        for m in range(n_models * 10):  # more models in the inventory than any one target runs
            model = inventory.registered_model_register(actor=actor, team=team, name=f"Model {m}", risk_tier="low")
            for version in ("1.0.0", "1.1.0"):
                inventory.model_version_create(actor=actor, model=model, version=version, artifact_digest=DIGEST)
    targets = []
    with transaction.atomic():
        for t in range(n_targets):
            targets.append(services.target_save(
                actor=actor, name=f"target-{t}", environment=environment, team=team, kind="gitops",
                config={"url": "https://git.example.com/deploy.git", "paths": [f"t{t}/*.yaml"]},
            ))  # fmt: skip
    return targets


def observed_for(target_index: int, n_models: int, moved: bool = False):
    from apps.deployments.adapters import Observed

    items = []
    for k in range(n_models):
        model = (target_index + k) % (n_models * 10)
        version = "1.1.0" if moved and k == 0 else "1.0.0"
        items.append(Observed(model=f"model-{model}", version=version, digest=DIGEST, location=f"t{target_index}/{k}"))
    return items


def timed_apply(targets, n_models: int, moved: bool = False) -> tuple[float, float]:
    from apps.deployments.observing import observation_apply

    start = time.perf_counter()
    with Counter() as counter:
        for index, target in enumerate(targets):
            observation_apply(target, observed_for(index, n_models, moved))
    elapsed = time.perf_counter() - start
    return len(targets) / elapsed, counter.count / len(targets)


def gitops_end_to_end(n_targets: int, n_models: int) -> tuple[float, float]:
    from apps.accounts.models import Team, User
    from apps.audit.actors import Actor
    from apps.deployments import services
    from apps.deployments.observing import observe_target
    from apps.inventory.models import Environment

    repo = Path(tempfile.mkdtemp(prefix="govportal-bench-gitops-"))
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)  # noqa: S603, S607
    for t in range(n_targets):
        folder = repo / f"g{t}"
        folder.mkdir()
        for k in range(n_models):
            (folder / f"m{k}.yaml").write_text(
                f"kind: InferenceService\nmetadata:\n  name: m{k}\n  annotations:\n"
                f"    govportal.io/model: model-{k}\n    govportal.io/version: '1.0.0'\n"
                f"    govportal.io/digest: sha256:{DIGEST}\n"
            )
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)  # noqa: S603, S607
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "manifests"], check=True, env=env)  # noqa: S603, S607
    actor = Actor.of(User.objects.get(username="bench-admin"))
    team, environment = Team.objects.get(slug="bench"), Environment.objects.get(name="production")
    targets = []
    with transaction.atomic():
        for t in range(n_targets):
            targets.append(services.target_save(
                actor=actor, name=f"gitops-{t}", environment=environment, team=team, kind="gitops",
                config={"url": str(repo), "paths": [f"g{t}/*.yaml"]},
            ))  # fmt: skip
    results = []
    for _ in range(2):  # first (clone, commit history) and second (fetch, nothing new)
        start = time.perf_counter()
        with Counter() as counter:
            for target in targets:
                observe_target(target.pk)
        results.append((n_targets / (time.perf_counter() - start), counter.count / n_targets))
    return results


def main(args) -> None:
    settings.GITSYNC_MIRROR_DIR = Path(tempfile.mkdtemp(prefix="govportal-bench-mirrors-"))
    print(f"database: {connection.vendor}; {args.targets} targets x {args.models} models")
    targets = setup(args.targets, args.models)
    rows = []
    for label, moved in (("first observation", False), ("nothing changed", False), ("one model moved", True)):
        rate, per = timed_apply(targets, args.models, moved)
        rows.append((f"apply: {label}", f"{rate:,.0f}", f"{per:.1f}"))
    small = targets[: max(1, len(targets) // 10)]
    rate, per_small = timed_apply(small, args.models, True)
    rows.append((f"apply: nothing changed, {len(small)} targets", f"{rate:,.0f}", f"{per_small:.1f}"))
    if args.gitops:
        first, again = gitops_end_to_end(args.gitops, args.models)
        rows.append((f"gitops end to end, first ({args.gitops} targets)", f"{first[0]:,.1f}", f"{first[1]:.1f}"))
        rows.append((f"gitops end to end, no change ({args.gitops})", f"{again[0]:,.1f}", f"{again[1]:.1f}"))
    print_table(("path", "observations/s", "queries/observation"), rows)
    flat = rows[1][2] == rows[3][2]
    print(f"queries per unchanged observation at {len(targets)} and {len(small)} targets: {rows[1][2]} and "
          f"{rows[3][2]} ({'constant' if flat else 'NOT constant'})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--gitops", type=int, default=50, help="targets observed end to end through Git (0: skip)")
    run_in_throwaway_database(main, parser.parse_args(), label="observe")
