"""The portal as production runs it: the Procfile's gunicorn, Celery worker and beat under honcho, on PostgreSQL and
Redis, with DEBUG off, driven from the outside only (HTTP, the broker, a real browser).

A push webhook signed like GitHub's → the worker syncs the model repository → CI creates and submits a deployment
request through the API → two approvers sign it in Chromium → the worker rolls it out to a local GitOps
repository → "Observe now" on the target, through the broker, shows it in sync → the audit chain verifies, with the
checkpoints beat had the worker sign.

The database is a throw-away one made on DATABASE_URL's PostgreSQL server (or postgres://postgres@127.0.0.1:5432)
and dropped at the end. Redis databases PROD_SMOKE_BROKER_URL (default 8) and PROD_SMOKE_CACHE_URL (default 9)
are the test's own, emptied before and after. Every wait is bounded; every process is killed at the end, failure or
not, and the processes' output is printed when the test fails. Run it with `make prod-smoke`; the normal suite skips
it. Without PostgreSQL, Redis, honcho or Chromium it skips saying what is missing; with CI set it fails instead.
"""

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, missing_requirements
from tests.gitsync.gitwork import Work

pytestmark = pytest.mark.prod_smoke

ROOT = Path(settings.BASE_DIR)
SERVER_URL = os.environ.get("DATABASE_URL", "")  # its server's maintenance database makes and drops ours
if not SERVER_URL.startswith(("postgres://", "postgresql://")):
    SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SERVER_URL = urlunsplit(urlsplit(SERVER_URL)._replace(path="/postgres"))
BROKER_URL = os.environ.get("PROD_SMOKE_BROKER_URL", "redis://127.0.0.1:6379/8")
CACHE_URL = os.environ.get("PROD_SMOKE_CACHE_URL", "redis://127.0.0.1:6379/9")
TIMEOUT = 60  # seconds for any one outcome; generous for a loaded CI machine, never asserted on
UI_TIMEOUT_MS = 15_000
ALLOWED_WARNINGS = {"security.W008"}  # SECURE_SSL_REDIRECT is off: the test speaks plain HTTP to 127.0.0.1
DIGESTS = {"1.0.0": "a" * 64, "1.1.0": "b" * 64}
GOVPORTAL_YAML = """\
models:
  - name: Retail Scorecard
    team: credit-risk
    risk_tier: high
    versions:
""" + "".join(
    f"      - version: {version}\n"
    f"        artifact_uri: s3://models/retail-scorecard/{version}/model.pkl\n"
    f"        artifact_digest: sha256:{digest}\n"
    "        model_card: MODEL_CARD.md\n"
    for version, digest in DIGESTS.items()
)
MODEL_CARD = "# Retail Scorecard\n\nScores retail credit applications; validated by Model Risk.\n"
MANIFEST = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: retail-scorecard
  annotations:
    govportal.io/model: retail-scorecard
    govportal.io/version: "1.0.0"
    govportal.io/digest: "sha256:{digest}"
spec:
  predictor:
    model:
      storageUri: s3://models/retail-scorecard/1.0.0/model.pkl
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def wait_for(predicate, what: str, portal=None, timeout: float = TIMEOUT):
    """Poll `predicate` until it returns something true; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if portal is not None and portal.exited():
            pytest.fail(f"the portal's processes stopped while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.2)


def require_everything():
    """Skip (or fail, in CI) when something the test needs is missing."""
    import psycopg2
    import redis

    missing = list(missing_requirements())
    try:
        psycopg2.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg2.Error as exc:
        missing.append(f"PostgreSQL at {SERVER_URL} ({str(exc).strip()})")
    for url in (BROKER_URL, CACHE_URL):
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            missing.append(f"Redis at {url} ({exc})")
    if subprocess.run([sys.executable, "-m", "honcho", "version"], capture_output=True, timeout=60).returncode:
        missing.append("honcho (pip install -r requirements.txt)")
    if not missing:
        return
    message = f"the production smoke test needs {'; '.join(missing)}"
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def parse_time(value: str) -> datetime:
    """A time as the API writes it (ISO 8601, UTC with Z)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Portal:
    """A throw-away database and Redis, the portal's settings, and `honcho start` on the Procfile."""

    def __init__(self, tmp_path: Path):
        import psycopg2

        self.tmp = tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.run_id = uuid.uuid4().hex
        self.db_name = f"govportal_smoke_{self.run_id[:12]}"
        server = urlsplit(SERVER_URL)
        self.database_url = urlunsplit(server._replace(path=f"/{self.db_name}"))
        self.server = psycopg2.connect(SERVER_URL)
        self.server.autocommit = True
        self.database = None
        self.honcho = None
        self.log_path = tmp_path / "honcho.log"
        (tmp_path / "gitconfig").write_text("")
        self.env = {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": BROKER_URL,
            "CACHE_URL": CACHE_URL,
            "AUDIT_SIGNING_KEY_FILE": str(tmp_path / "audit-signing-key.pem"),
            "AUDIT_CHECKPOINT_SECONDS": "5",  # beat has the worker sign a checkpoint every 5 s
            "GOVPORTAL_VAR_DIR": str(tmp_path / "var"),  # exports, Git mirrors, collected static files
            "SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1; Chromium keeps Secure cookies for it
            "PORTAL_BASE_URL": self.url,
            "GITSYNC_ALLOW_LOCAL": "1",  # the model and GitOps repositories are local ones
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",  # no SMTP server: mail is logged
            "WEB_CONCURRENCY": "2",
            "GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{self.port} --control-socket={tmp_path / 'gunicorn.ctl'}",
            "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "PYTHONUNBUFFERED": "1",
            "GOVPORTAL_SMOKE_RUN": self.run_id,  # marks every process of this run, for the final sweep
        }
        self.env_file = tmp_path / "portal.env"
        self.env_file.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in self.env.items()))
        self.process_env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
        }

    # -- before the processes: database, key, static files, data ------------------------------------------------

    def run(self, *commands: list[str], timeout: float = 120) -> list[str]:
        """Run Python commands (`manage.py …`, `-m …`) side by side, in the portal's environment; each must
        succeed. Returns their outputs."""
        processes = []
        try:
            for n, args in enumerate(commands):
                output = open(self.tmp / f"command-{len(processes)}-{n}.log", "w+")  # noqa: SIM115 - closed below
                process = subprocess.Popen(
                    [sys.executable, *args], cwd=ROOT, env={**self.process_env, **self.env}, stdout=output,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                )  # fmt: skip
                processes.append((args, process, output))
            outputs = []
            for args, process, output in processes:
                process.wait(timeout=timeout)
                output.seek(0)
                text = output.read()
                assert process.returncode == 0, f"{' '.join(args)} failed:\n{text[-5000:]}"
                outputs.append(text)
            return outputs
        finally:
            for _args, process, output in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                output.close()

    def prepare(self, model_repository: str, gitops_repository: str) -> dict:
        """The database, the signing key and the static files, checked with `check --deploy`, and the test's
        data (smoke_data.py: teams, people, policy, repository, target, token), as an operator would set up."""
        with self.server.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{self.db_name}"')
        self.flush_redis()
        self.run(
            ["manage.py", "migrate", "--noinput"],
            ["manage.py", "audit_keygen", "--out", self.env["AUDIT_SIGNING_KEY_FILE"]],
            ["manage.py", "collectstatic", "--noinput"],
        )
        report, data = self.run(
            ["manage.py", "check", "--deploy"], ["-m", "tests.e2e.smoke_data", model_repository, gitops_repository]
        )
        warnings = set(re.findall(r"\((\w+\.[WE]\d+)\)", report))
        assert warnings <= ALLOWED_WARNINGS, report
        return json.loads(data.strip().splitlines()[-1])

    def flush_redis(self) -> None:
        import redis

        for url in (BROKER_URL, CACHE_URL):
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
            try:
                client.flushdb()
            finally:
                client.close()

    def sql(self, query: str, *params):
        """Rows the portal's database holds now (read-only checks; the portal changes its data itself)."""
        import psycopg2

        if self.database is None:
            self.database = psycopg2.connect(self.database_url)
            self.database.autocommit = True
        with self.database.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    # -- the processes ---------------------------------------------------------------------------------------

    def start(self) -> None:
        command = [
            sys.executable, "-m", "honcho", "start", "--no-colour", "-f", str(ROOT / "Procfile"), "-d", str(ROOT),
            "-e", str(self.env_file), "-p", str(self.port),
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.honcho = subprocess.Popen(
                command, cwd=ROOT, env=self.process_env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

        def healthy():
            try:
                return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, "answer from gunicorn on /healthz", self)

    def exited(self) -> bool:
        return self.honcho is not None and self.honcho.poll() is not None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """honcho stops its processes on SIGTERM. Then its process group is killed, and every process of this run
        still alive: each carries the run's marker in its environment (gunicorn, Celery and their children, and
        the git commands the worker starts in sessions of their own)."""
        if self.honcho is None:
            return
        if self.honcho.poll() is None:
            self.honcho.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.honcho.wait(timeout=15)
        if self.honcho.poll() is None:
            os.killpg(self.honcho.pid, signal.SIGKILL)
            self.honcho.wait(timeout=15)
        marker = f"GOVPORTAL_SMOKE_RUN={self.run_id}".encode()
        for _sweep in range(5):  # again, in case one of them forked meanwhile
            alive = []
            for entry in Path("/proc").iterdir():
                with contextlib.suppress(OSError):
                    if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                        alive.append(int(entry.name))
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not alive:
                break
            time.sleep(0.2)

    def drop(self) -> None:
        if self.database is not None:
            self.database.close()
        with self.server.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self.server.close()
        self.flush_redis()

    # -- talking to it ---------------------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return requests.request(method, f"{self.url}/api/v1/{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def portal(tmp_path):
    require_everything()
    portal = Portal(tmp_path)
    try:
        yield portal
    finally:
        try:
            portal.stop()
        finally:
            portal.drop()
            print(f"--- honcho (gunicorn, worker, beat) output ---\n{portal.log()[-30000:]}")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def repositories(tmp_path: Path) -> tuple[Work, Work]:
    """The team's model repository, and the GitOps repository production is deployed from (1.0.0 there now)."""
    models = Work(tmp_path / "retail-scorecard")
    models.commit("Declare the scorecard", {"govportal.yaml": GOVPORTAL_YAML, "MODEL_CARD.md": MODEL_CARD})
    gitops = Work(tmp_path / "deployments")
    gitops.git("config", "receive.denyCurrentBranch", "updateInstead")  # accepts pushes, as a Git server would
    gitops.commit("Deploy 1.0.0", {"prod/retail-scorecard.yaml": MANIFEST.format(digest=DIGESTS["1.0.0"])})
    return models, gitops


def push_webhook(portal: Portal, data: dict) -> requests.Response:
    """What GitHub sends for a push to main, signed with the repository's webhook secret."""
    payload = {
        "ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40,
        "repository": {"full_name": data["github_name"], "name": data["github_name"].split("/")[1]},
        "pusher": {"name": "dana"}, "sender": {"login": "dana"},
    }  # fmt: skip
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(data["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature, "User-Agent": "GitHub-Hookshot/smoke",
    }  # fmt: skip
    return requests.post(f"{portal.url}/hooks/github/", data=body, headers=headers, timeout=30)


def sign_in(browser, portal: Portal, username: str, password: str):
    context = browser.new_context(base_url=portal.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


def approve_in_browser(browser, portal: Portal, username: str, password: str, request_id: int) -> None:
    from playwright.sync_api import expect

    page = sign_in(browser, portal, username, password)
    page.goto(f"/approvals/requests/{request_id}/")
    decide = page.locator("#decide")
    decide.locator("#id_password").fill(password)  # the re-entered password is the e-signature
    decide.get_by_role("button", name="Approve").click()
    signature = page.locator(f".signature[data-username='{username}']")
    expect(signature).to_contain_text("Approved as Model risk review", timeout=UI_TIMEOUT_MS)
    expect(signature).to_contain_text("Signed electronically", timeout=UI_TIMEOUT_MS)
    page.context.close()


def test_webhook_sync_request_signed_approval_rollout_and_observation_on_the_production_processes(
    portal, browser, tmp_path
):
    from playwright.sync_api import expect

    models, gitops = repositories(tmp_path)
    data = portal.prepare(models.url, gitops.url)
    token, password = data["token"], data["password"]
    portal.start()

    # (a) GitHub's push webhook, signed with the repository's secret, queues a sync …
    hook = push_webhook(portal, data)
    assert hook.status_code == 202, hook.text
    assert hook.json()["status"] == "queued"

    # (b) … which the worker runs: the versions declared in govportal.yaml appear. Each is its own transaction, and
    # a page-number list counts before it reads, so a poll during the sync may see one of them: wait for both.
    def synced_versions():
        response = portal.api("GET", "models/retail-scorecard/versions/", token)
        found = response.status_code == 200 and sorted(v["version"] for v in response.json()["results"])
        return found if found and len(found) >= len(DIGESTS) else None

    assert wait_for(synced_versions, "versions synced by the worker", portal) == ["1.0.0", "1.1.0"]

    # (c) CI creates the request through the API with its service token, then submits it.
    created = portal.api("POST", "deployment-requests/", token, json={
        "model": "retail-scorecard", "version": "1.1.0", "environment": "production",
        "justification": "Recalibrated on 2026 applications.", "submit": False,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    submitted = portal.api("POST", f"deployment-requests/{request_id}/submit/", token, json={})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "pending"

    # (d) Two approvers sign in Chromium, each re-entering their password: the request is approved …
    for approver in ("rita", "sam"):
        approve_in_browser(browser, portal, approver, password, request_id)
    assert portal.api("GET", f"deployment-requests/{request_id}/", token).json()["state"] == "approved"

    # (e) … and the worker rolls it out: one commit in the GitOps repository, naming the request.
    def rollout_done():
        rows = portal.sql("SELECT status, detail FROM deployments_rollout WHERE request_id = %s", request_id)
        return rows and rows[0][0] in ("succeeded", "failed") and rows[0]

    status, detail = wait_for(rollout_done, "rollout by the worker", portal)
    assert status == "succeeded", detail
    trailer = f"^GovPortal-Request: {request_id}$"
    assert len(gitops.git("log", "--format=%H", f"--grep={trailer}", "main").split()) == 1
    assert '"1.1.0"' in (gitops.path / "prod" / "retail-scorecard.yaml").read_text()

    # (f) The target's admin asks to observe it now; the worker does, and what runs is what was approved.
    def target():
        return portal.api("GET", f"deployments/targets/{data['target']}/", token).json()

    before = parse_time(wait_for(lambda: target()["last_observed_at"], "first observation, after the rollout", portal))
    alice = sign_in(browser, portal, "alice", password)
    alice.goto(f"/deployments/targets/{data['target']}/")
    alice.locator("#observe-now").click()
    expect(alice.get_by_role("alert")).to_contain_text("Observation queued", timeout=UI_TIMEOUT_MS)
    wait_for(lambda: parse_time(target()["last_observed_at"]) > before, "observation asked for by Observe now", portal)
    statuses = portal.api("GET", "deployments/statuses/?model=retail-scorecard&environment=production", token)
    [status] = statuses.json()["results"]
    assert (status["drift_status"], status["running_version"]) == ("in_sync", "1.1.0"), status
    alice.reload()
    expect(alice.locator("#running-table")).to_contain_text("1.1.0", timeout=UI_TIMEOUT_MS)

    # The record holds: beat had the worker sign checkpoints, and the whole chain and its checkpoints verify.
    wait_for(lambda: portal.sql("SELECT count(*) FROM audit_auditcheckpoint")[0][0], "checkpoint signed", portal)
    [verified] = portal.run(["manage.py", "audit_verify", "--workers", "1"])
    assert re.search(r"OK: \d+ events, chain head #\d+ \w+, \d+ signed checkpoints? checked", verified), verified
    succeeded = portal.sql("SELECT count(*) FROM audit_auditevent WHERE action = 'deployment.succeeded'")
    assert succeeded == [(1,)]
