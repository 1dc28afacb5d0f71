"""Runs in GTO's own virtualenv (never imported by the portal): tags a repository with the `gto` command line.

    <gto venv>/bin/python bench/gto_build.py REPOSITORY PREFIX ARTIFACTS VERSIONS STAGES

REPOSITORY holds ARTIFACTS x VERSIONS commits (bench/git_sync.py makes them), commit number v * ARTIFACTS + a being
version v of artifact a (named PREFIX + a). Registers every version at its commit, then assigns STAGES stages (prod
and staging in turn, on versions spread over the artifacts). Tags are a second apart. Prints the seconds it took.

The first artifact's tags are made by the `gto` command line (`gto register`, `gto assign`, through its click app in
this one process). Each such command reads every tag first, so a thousand of them take most of an hour; the other
artifacts' tags are therefore written by the functions those commands end in, GTO's own `name_tag` and
`create_tag`, with the commands' own messages: the same tags, without the checks (bench/git_sync.py then checks
what `gto show` makes of them).
"""

import os
import subprocess
import sys
import time

from click.testing import CliRunner
from gto.cli import app
from gto.constants import Action
from gto.tag import create_tag, name_tag
from scmrepo.git import Git

BASE = 1_700_000_000


def main(repository: str, prefix: str, artifacts: int, versions: int, stages: int) -> None:
    started = time.perf_counter()
    os.chdir(repository)
    listed = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], capture_output=True, text=True, check=True)  # noqa: S607
    commits = listed.stdout.split()
    clock = [BASE + 60 * len(commits)]
    time.time = lambda: float(clock[0])  # dulwich stamps each tag with time.time(): one second apart
    runner = CliRunner()

    def gto(*args: str) -> None:
        clock[0] += 1
        os.environ["GIT_COMMITTER_DATE"] = f"@{clock[0]} +0000"
        result = runner.invoke(app, list(args), catch_exceptions=False)
        if result.exit_code:
            raise SystemExit(f"gto {' '.join(args)} failed ({result.exit_code}): {result.output}")

    scm, counters = Git(repository), [0] * artifacts

    def tag(a: int, commit: str, version: str, stage: str | None) -> None:
        clock[0] += 1
        os.environ["GIT_COMMITTER_DATE"] = f"@{clock[0]} +0000"
        if stage is None:
            name = name_tag(Action.REGISTER, f"{prefix}{a}", version=version, simple=True)
            message = f"Registering artifact {prefix}{a} version {version}"
        else:
            counters[a] += 1
            name = f"{name_tag(Action.ASSIGN, f'{prefix}{a}', stage=stage, simple=True)}#{counters[a]}"
            message = f"Assigning stage {stage} to artifact {prefix}{a} version {version}"
        create_tag(scm, name, commit, message)

    for v in range(versions):
        for a in range(artifacts):
            commit, version = commits[v * artifacts + a], f"v1.{v}.0"
            if a == 0:
                gto("register", f"{prefix}0", commit, "--version", version)
            else:
                tag(a, commit, version, None)
    for s in range(stages):
        a, v = s % artifacts, versions - 1 - (s // artifacts) % versions
        version, stage = f"v1.{v}.0", ("prod", "staging")[s % 2]
        if a == 0:
            counters[0] += 1
            gto("assign", f"{prefix}0", "--version", version, "--stage", stage)
        else:
            tag(a, commits[v * artifacts + a], version, stage)
    print(f"{time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:6]))
