"""GTO 1.10.1 as the oracle: a long-lived driver process in GTO's own cached virtualenv builds repositories with the
`gto` command line and says what `gto show` answers; the tests sync the same repositories and compare."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.deployments import servers

DRIVER = Path(__file__).with_name("driver.py")


class Oracle:
    """Talks to driver.py: one JSON request per line, one JSON answer per line."""

    def __init__(self, process: subprocess.Popen, log: Path):
        self.process, self.log = process, log

    def run(self, repository: Path, steps: list[dict], *, clock: int, show: bool = True) -> dict:
        self.process.stdin.write(
            json.dumps({"repository": str(repository), "clock": clock, "steps": steps, "show": show})
        )
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the GTO driver stopped; see {self.log}:\n{servers._tail(self.log)}")
        answer = json.loads(line)
        if "failure" in answer:
            raise RuntimeError(f"the GTO driver failed: {answer['failure']}")
        return answer


@pytest.fixture(scope="session")
def oracle(pytestconfig, tmp_path_factory):
    try:
        servers.ensure(servers.GTO, servers.reporter(pytestconfig))
    except servers.Unavailable as exc:
        servers.unavailable(str(exc))
    home = tmp_path_factory.mktemp("gto-driver")
    (home / "empty.gitconfig").write_text("")
    env = servers._env(servers.GTO, GIT_CONFIG_GLOBAL=str(home / "empty.gitconfig"), GIT_CONFIG_NOSYSTEM="1")
    log = home / "driver.log"
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [str(servers.GTO.program("python")), str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=errors, text=True, env=env, cwd=home,
        )  # fmt: skip
    try:
        yield Oracle(process, log)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """No user or system Git config leaks into the repositories the portal reads."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def story(oracle, cast, tmp_path):
    from .story import Story

    return Story(oracle, cast, tmp_path)
