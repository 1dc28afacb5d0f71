"""Steps for the GTO driver, and a story: one repository that GTO builds chapter by chapter, each chapter synced by
the portal and compared with `gto show`."""

import subprocess
from pathlib import Path

from django.db import transaction

from apps.audit.actors import Actor
from apps.gitsync import services
from apps.inventory.models import ModelVersion

from .compare import assert_same, sync

START = 1_700_000_000  # the clock tags and commits start from


def git(*args: str) -> dict:
    return {"step": "git", "args": list(args)}


def commit(message: str = "work") -> dict:
    return git("commit", "-q", "--allow-empty", "-m", message)


def tick(seconds: int = 1) -> dict:
    return {"step": "tick", "seconds": seconds}


def gto(*args: str, pick: int | None = None) -> list[dict]:
    """One `gto` command a second after the last; `{version}`/`{commit}` in args name the pick-th registered version."""
    step = {"step": "gto", "args": list(args)}
    if pick is not None:
        step |= {"artifact": args[1], "pick": pick}
    return [tick(), step]


class Story:
    """One repository: each chapter runs its steps in GTO, syncs the portal, and compares the two."""

    def __init__(self, oracle, cast, tmp_path: Path):
        self.oracle, self.clock, self.history = oracle, START, []
        self.path = new_repository(tmp_path / "models")
        with transaction.atomic():
            self.repository, _ = services.repository_create(
                actor=Actor.of(cast.admin), team=cast.team_a, name="models", url=f"file://{self.path}"
            )

    def chapter(self, *steps) -> dict:
        flat = [step for item in steps for step in (item if isinstance(item, list) else [item])]
        answers = self.oracle.run(self.path, flat, clock=self.clock)
        self.clock = answers["clock"]
        sync(self.repository)
        assert_same(self.repository, answers, self.history)
        self.history += answers["log"]
        return answers

    def version(self, model: str, version: str) -> ModelVersion:
        return ModelVersion.objects.get(model__name=model, version=version)


def new_repository(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path
