"""Runs in GTO's own virtualenv (never imported by the portal): builds repositories with the `gto` command line and
answers what `gto show` says, as JSON.

    <gto venv>/bin/python driver.py     # then one JSON request per line on stdin, one JSON answer per line on stdout

A request names a repository, a clock and steps. Each step is a `git` or `gto` command line, run in the repository on
the clock the steps move ("tick"), so that tags are seconds apart or, on purpose, in the same second. The `gto`
commands go through GTO's own CLI (its click app, in this long-lived process: importing GTO takes most of a second);
a command GTO refuses is recorded and skipped. The answer holds `gto show --json` and `gto show NAME --json`, each with
and without `-d`, as GTO prints them.
"""

import json
import os
import subprocess
import sys
import time

from click.testing import CliRunner
from gto.cli import app

IDENTITY = {"GIT_AUTHOR_NAME": "Dana Dev", "GIT_AUTHOR_EMAIL": "dana@example.org"}
IDENTITY |= {"GIT_COMMITTER_NAME": "Dana Dev", "GIT_COMMITTER_EMAIL": "dana@example.org"}


class Clock:
    """time.time() for GTO's tags (dulwich stamps them with it) and the dates of git's commits."""

    def __init__(self, start: int):
        self.now = start

    def __call__(self) -> float:
        return float(self.now)


def gto(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    return result.exit_code, result.output


def show(*args: str):
    code, output = gto("show", *args, "--json")
    if code != 0:
        raise SystemExit(f"gto show {' '.join(args)} failed ({code}): {output}")
    return json.loads(output)


def versions_of(artifact: str) -> list[tuple[str, str]]:
    """(version, commit) of what `gto show ARTIFACT -d` lists as registered, lowest version first, for steps that
    pick one."""
    try:
        listed = show(artifact, "-d")
    except SystemExit:
        return []
    found = {(v["version"], v["commit_hexsha"]) for v in listed if v["registrations"]}
    return sorted(found, key=lambda pair: [int(part) for part in pair[0][1:].split(".")])


def run(step: dict, clock: Clock) -> dict:
    kind = step["step"]
    if kind == "tick":
        clock.now += step["seconds"]
        return {}
    if kind == "write":
        with open(step["path"], "w") as out:
            out.write(step["content"])
        return {}
    if kind == "git":
        date = f"@{clock.now} +0000"
        env = {**os.environ, **IDENTITY, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        result = subprocess.run(["git", *step["args"]], env=env, capture_output=True, text=True)
        return {"code": result.returncode, "output": (result.stdout + result.stderr)[-500:]}
    args = list(step["args"])
    if "pick" in step:  # a version chosen among those registered so far (steps are planned before they run)
        known = versions_of(step["artifact"])
        if not known:
            return {"code": None, "output": f"no version of {step['artifact']} to pick"}
        version, commit = known[step["pick"] % len(known)]
        args = [arg.replace("{version}", version).replace("{commit}", commit) for arg in args]
    # pygit2 cannot date a tag and hands the GIT_COMMITTER_DATE case to the next backend (git itself); dulwich
    # takes time.time(): either way the tag carries the clock's time.
    os.environ["GIT_COMMITTER_DATE"] = f"@{clock.now} +0000"
    code, output = gto(*args)
    return {"code": code, "output": output[-500:], "args": args}


def answer(request: dict) -> dict:
    os.chdir(request["repository"])
    clock = Clock(request["clock"])
    time.time = clock  # every tag GTO writes is stamped with the step's time
    log = [{"step": step, **run(step, clock)} for step in request["steps"]]
    answers = {"log": log, "clock": clock.now}
    if request.get("show", True):
        answers["registry"] = show()
        answers["registry_d"] = show("-d")
        answers["versions"] = {name: show(name) for name in answers["registry_d"]}
        answers["versions_d"] = {name: show(name, "-d") for name in answers["registry_d"]}
    return answers


def main() -> None:
    os.environ.update(IDENTITY)
    for line in sys.stdin:
        try:
            reply = answer(json.loads(line))
        except (Exception, SystemExit) as exc:  # the test reports it; the driver serves the next request
            reply = {"failure": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
