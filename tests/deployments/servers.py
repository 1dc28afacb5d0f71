"""Real servers for the deployment adapters (tests, and the demo or benchmarks if they want them): MLServer and an
MLflow tracking server, each installed once into its own virtualenv outside the repository, started on free
loopback ports, and always stopped (the whole process group). The same cache holds GTO, the command-line tool whose
answers the Git sync is checked against (tests/gto_oracle).

    python -m tests.deployments.servers [mlserver] [mlflow] [gto]   # builds the virtualenvs ahead of time (e.g. in CI)

The virtualenvs live in $GOVPORTAL_TEST_CACHE (default ~/.cache/govportal-tests)/venvs, one per pinned version and
Python, built under a file lock so that two runs never build the same one at once, and reused afterwards. They are
never part of the portal's requirements. When one cannot be built (no network) or a server does not come up,
`Unavailable` says why; the tests skip on it, or fail when CI is set (`unavailable()`).
"""

import base64
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode


@dataclass(frozen=True)
class Tool:
    """A server program pinned to one version, installed into a virtualenv of its own."""

    name: str
    version: str
    requirements: tuple[str, ...]

    @property
    def directory(self) -> Path:
        python = f"py{sys.version_info.major}.{sys.version_info.minor}"
        return cache_dir() / "venvs" / f"{self.name}-{self.version}-{python}"

    def program(self, name: str) -> Path:
        return self.directory / "bin" / name


MLSERVER = Tool("mlserver", "1.7.1", ("mlserver==1.7.1",))
MLFLOW = Tool("mlflow", "3.17.2", ("mlflow[auth]==3.17.2",))  # [auth]: the basic-auth app needs Flask-WTF
GTO = Tool("gto", "1.10.1", ("gto==1.10.1",))  # not a server: the oracle the Git sync's readings are checked against
TOOLS = (MLSERVER, MLFLOW, GTO)
BUILD_TIMEOUT = 1800  # seconds for one pip install; the first MLflow build takes a minute or two
START_TIMEOUT = 120  # seconds for a server to answer its health check; MLflow takes ~10 s on an idle machine
STOP_TIMEOUT = 15
MARKER = ".govportal-complete"

Say = Callable[[str], None]
_failed: dict[Tool, str] = {}  # a build that failed is not tried again in the same process


class Unavailable(Exception):
    """A server cannot be had here; the message says why and what to do."""


class CallError(Exception):
    """A request to a test server was answered with an error status; the message holds the server's answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def cache_dir() -> Path:
    return Path(os.environ.get("GOVPORTAL_TEST_CACHE") or Path.home() / ".cache" / "govportal-tests")


def _say(message: str) -> None:
    print(f"[test servers] {message}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    text = [line for line in text if not line.startswith("WARNING: Location")]  # this machine's pip mirrors
    return "\n".join(text[-lines:])


def ensure(tool: Tool, say: Say = _say) -> Path:
    """The tool's virtualenv, built first if it is not there yet; Unavailable when it cannot be built."""
    if tool in _failed:
        raise Unavailable(_failed[tool])
    marker, wanted = tool.directory / MARKER, "\n".join(tool.requirements)
    if marker.is_file() and marker.read_text() == wanted:
        return tool.directory
    tool.directory.parent.mkdir(parents=True, exist_ok=True)
    with open(tool.directory.with_name(tool.directory.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another run that is building {tool.directory}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == wanted:
            return tool.directory
        _build(tool, wanted, say)
    return tool.directory


def _build(tool: Tool, wanted: str, say: Say) -> None:
    log = tool.directory.with_name(tool.directory.name + ".log")
    say(f"building {tool.directory}: pip install {' '.join(tool.requirements)} (once; takes a few minutes; log {log})")
    started = time.monotonic()
    shutil.rmtree(tool.directory, ignore_errors=True)
    pip = [str(tool.program("python")), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    steps = [
        ("python -m venv", [sys.executable, "-m", "venv", str(tool.directory)], 300),
        ("pip install", [*pip, "--timeout", "30", "--retries", "2", *tool.requirements], BUILD_TIMEOUT),
    ]
    why = ""
    with open(log, "w") as out:
        for step, command, timeout in steps:
            try:
                subprocess.run(command, check=True, timeout=timeout, stdout=out, stderr=subprocess.STDOUT)
            except subprocess.CalledProcessError as exc:
                why = f"{step} exited with status {exc.returncode}"
            except subprocess.TimeoutExpired:
                why = f"{step} took longer than {timeout} s"
            except OSError as exc:
                why = f"{step} could not run: {exc}"
            if why:
                break
    if why:
        shutil.rmtree(tool.directory, ignore_errors=True)
        _failed[tool] = (
            f"could not build the {tool.name} {tool.version} virtualenv at {tool.directory} ({why}); is PyPI "
            f"reachable? Last lines of {log}:\n{_tail(log)}"
        )
        raise Unavailable(_failed[tool])
    (tool.directory / MARKER).write_text(wanted)
    say(f"built {tool.directory} in {time.monotonic() - started:.0f} s")


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (held together while choosing, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _env(tool: Tool, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{tool.directory / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env | extra


class Server:
    """A server process in its own process group; stop() ends the group, children included."""

    def __init__(self, name: str, process: subprocess.Popen, url: str, log: Path):
        self.name, self.process, self.url, self.log = name, process, url, log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _signal(self, sig: int) -> bool:
        """Send `sig` to the whole group; False when nobody in it is left."""
        try:
            os.killpg(self.process.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def stop(self) -> None:
        """SIGTERM to the group, up to STOP_TIMEOUT for it to empty, then SIGKILL to whatever stayed."""
        deadline = time.monotonic() + STOP_TIMEOUT
        if self._signal(signal.SIGTERM):
            while time.monotonic() < deadline:
                if self.process.poll() is not None and not self._signal(0):
                    break
                time.sleep(0.1)
            self._signal(signal.SIGKILL)
        self.process.wait()

    def call(self, method: str, path: str, payload=None, *, auth: tuple[str, str] | None = None):
        """A JSON request to the server; the decoded answer (None when empty). CallError on 4xx/5xx."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310 - loopback
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own loopback server
                body = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                answer = exc.read(2000).decode(errors="replace")
            raise CallError(exc.code, f"{method} {path}: HTTP {exc.code} {answer}") from None
        return json.loads(body) if body.strip() else None


def _start(name: str, command: list[str], *, cwd: Path, env: dict, url: str, probe: str, timeout: float,
           say: Say) -> Server:  # fmt: skip
    """Start `command` and wait until `url + probe` answers 200; Unavailable (with its log) otherwise."""
    log = cwd / f"{name}.log"
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    server = Server(name, process, url, log)
    while True:
        if process.poll() is not None:
            server.stop()
            raise Unavailable(f"{name} exited with status {process.returncode} before it was ready:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url + probe, timeout=2) as response:  # noqa: S310 - our own loopback server
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            server.stop()
            raise Unavailable(f"{name} did not answer {probe} within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.25)
    say(f"{name} is up at {url} ({time.monotonic() - started:.1f} s)")
    return server


def _with_free_ports(start: Callable[[list[int]], Server], count: int) -> Server:
    """Start on fresh ports, again if another process took one between choosing and binding."""
    for attempt in range(3):
        try:
            return start(free_ports(count))
        except Unavailable as exc:
            if attempt == 2 or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


# -- MLServer ---------------------------------------------------------------------------------------------------

CONSTANT_RUNTIME = '''\
"""A runtime that answers a constant: the server and its protocol are real, the model is not worth loading."""

from mlserver import MLModel
from mlserver.types import InferenceResponse, ResponseOutput


class ConstantModel(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload):
        output = ResponseOutput(name="score", shape=[1], datatype="FP32", data=[0.5])
        return InferenceResponse(model_name=self.name, model_version=self.version, outputs=[output])
'''


def write_constant_model(repository: Path, name: str, version: str, *, versions: list[str] | None = None) -> Path:
    """A model folder MLServer serves as `name` with `parameters.version` = version (and metadata `versions`)."""
    folder = repository / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "constant_runtime.py").write_text(CONSTANT_RUNTIME)
    settings = {"name": name, "implementation": "constant_runtime.ConstantModel", "parameters": {"version": version}}
    if versions is not None:
        settings["versions"] = versions
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return folder


def start_mlserver(repository: Path, *, say: Say = _say, timeout: float = START_TIMEOUT) -> Server:
    """`mlserver start repository` on loopback: HTTP on a free port, gRPC (it cannot be switched off) on another,
    no metrics server, models loaded in the server process itself (no worker pool: quicker to start)."""
    ensure(MLSERVER, say)

    def start(ports: list[int]) -> Server:
        http_port, grpc_port = ports
        settings = {"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port, "metrics_endpoint": None,
                    "parallel_workers": 0, "debug": False}  # fmt: skip
        (repository / "settings.json").write_text(json.dumps(settings, indent=2))
        command = [str(MLSERVER.program("mlserver")), "start", str(repository)]
        return _start("mlserver", command, cwd=repository.parent, env=_env(MLSERVER), say=say, timeout=timeout,
                      url=f"http://127.0.0.1:{http_port}", probe="/v2/health/ready")  # fmt: skip

    return _with_free_ports(start, 2)


def mlserver_repository(server: Server, action: str, name: str) -> None:
    """MLServer's repository API: `load` (re-reading model-settings.json) or `unload` one model."""
    server.call("POST", f"/v2/repository/models/{name}/{action}")


# -- MLflow -----------------------------------------------------------------------------------------------------

AUTH_INI = """\
[mlflow]
default_permission = READ
database_uri = sqlite:///{directory}/basic_auth.db
admin_username = {username}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


def start_mlflow(directory: Path, *, admin: tuple[str, str] | None = None, say: Say = _say,
                 timeout: float = START_TIMEOUT) -> Server:  # fmt: skip
    """`mlflow server` on a SQLite file in `directory`, artifacts beside it, one worker, no background jobs, no
    telemetry. With `admin` (user, password): MLflow's basic-auth app, that user being its admin."""
    ensure(MLFLOW, say)
    directory.mkdir(parents=True, exist_ok=True)
    env = _env(MLFLOW, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")  # fmt: skip
    auth = []
    if admin:
        (directory / "basic_auth.ini").write_text(AUTH_INI.format(directory=directory, username=admin[0],
                                                                  password=admin[1]))  # fmt: skip
        env |= {"MLFLOW_AUTH_CONFIG_PATH": str(directory / "basic_auth.ini"),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}  # fmt: skip
        auth = ["--app-name", "basic-auth"]

    def start(ports: list[int]) -> Server:
        command = [
            str(MLFLOW.program("mlflow")), "server", *auth, "--host", "127.0.0.1", "--port", str(ports[0]),
            "--workers", "1", "--backend-store-uri", f"sqlite:///{directory}/mlflow.db",
            "--default-artifact-root", (directory / "artifacts").as_uri(),
        ]  # fmt: skip
        return _start("mlflow", command, cwd=directory, env=env, say=say, timeout=timeout,
                      url=f"http://127.0.0.1:{ports[0]}", probe="/health")  # fmt: skip

    return _with_free_ports(start, 1)


class Registry:
    """MLflow's Model Registry through its REST API, as a data scientist's scripts would use it."""

    API = "/api/2.0/mlflow"

    def __init__(self, server: Server, auth: tuple[str, str] | None = None):
        self.server, self.auth = server, auth

    def _call(self, method: str, path: str, payload=None, **query):
        suffix = f"?{urlencode(query)}" if query else ""
        return self.server.call(method, f"{self.API}/{path}{suffix}", payload, auth=self.auth)

    def exists(self, name: str) -> bool:
        try:
            self._call("GET", "registered-models/get", name=name)
            return True
        except CallError as exc:
            if exc.status == 404:
                return False
            raise

    def create_model(self, name: str) -> None:
        self._call("POST", "registered-models/create", {"name": name})

    def create_version(self, name: str, source: str, tags: dict[str, str] | None = None) -> str:
        tags = [{"key": key, "value": value} for key, value in (tags or {}).items()]
        answer = self._call("POST", "model-versions/create", {"name": name, "source": source, "tags": tags})
        return answer["model_version"]["version"]

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call("POST", "registered-models/alias", {"name": name, "alias": alias, "version": version})

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})  # DELETE takes a JSON body

    def delete_all(self) -> None:
        """Every registered model deleted (with its versions and aliases): a clean registry for the next test."""
        while models := (self._call("GET", "registered-models/search", max_results=100) or {}).get("registered_models"):
            for model in models:
                self._call("DELETE", "registered-models/delete", {"name": model["name"]})


# -- pytest glue ------------------------------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(message: str):
    """Skip saying why; fail instead when CI is set, so a CI machine that cannot build the servers cannot pass."""
    import pytest

    if in_ci():
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def reporter(pytestconfig) -> Say:
    """Print through pytest's output capture, so a long first build is visible while it happens."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        with capture.global_and_fixture_disabled():
            _say(message)

    return say


if __name__ == "__main__":
    wanted = sys.argv[1:] or [tool.name for tool in TOOLS]
    try:
        for tool in TOOLS:
            if tool.name in wanted:
                _say(f"{tool.name} {tool.version}: {ensure(tool)}")
    except Unavailable as exc:
        sys.exit(str(exc))
