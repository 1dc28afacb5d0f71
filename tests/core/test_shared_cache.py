"""One cache for every process: CACHE_URL picks Redis, and two web processes on it share one budget.

The cross-process tests start two gunicorn servers (one worker each, so each is its own process with its own
memory) on the test database and on Redis at CACHE_TEST_URL (default redis://127.0.0.1:6379/5: a database number
these tests own and empty before and after). Without Redis they skip, saying so; with CI set they fail instead, as
tests/gitsync/test_worker.py does for its broker.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection, transaction

from apps.accounts.models import User
from apps.accounts.tokens import service_account_create, token_create
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from tests import workers
from tests.conftest import PASSWORD, needs_postgres

ROOT = Path(__file__).resolve().parents[2]
CACHE_URL = os.environ.get("CACHE_TEST_URL", "redis://127.0.0.1:6379/5")
BOOT_TIMEOUT = 60  # seconds for a server to answer /healthz; generous for a loaded machine, never asserted on


def require_redis():
    """A client for the test cache database; skip (or fail, in CI) when Redis is not there."""
    return workers.require_redis(CACHE_URL, "CACHE_TEST_URL")


@pytest.fixture
def redis_cache():
    client = require_redis()
    client.flushdb()
    try:
        yield client
    finally:
        try:
            client.flushdb()
        finally:
            client.close()


def _settings_of(**env) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key != "CACHE_URL"}
    environ.update(DEBUG="1", **env)
    code = "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c.get('LOCATION'))"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


# -- settings ------------------------------------------------------------------------------------------------


def test_without_cache_url_each_process_has_a_memory_cache():
    result = _settings_of()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.core.cache.backends.locmem.LocMemCache"


def test_a_redis_cache_url_selects_the_redis_cache():
    result = _settings_of(CACHE_URL="redis://cache.internal:6379/2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.core.cache.backends.redis.RedisCache", "redis://cache.internal:6379/2"]


def test_a_cache_url_of_another_kind_fails_loudly():
    result = _settings_of(CACHE_URL="memcached://cache.internal:11211")
    assert result.returncode != 0
    assert "CACHE_URL must be a redis:// or rediss:// URL" in result.stderr


# -- two processes, one budget -------------------------------------------------------------------------------


def test_two_processes_counting_at_once_lose_no_count(redis_cache):
    """cache.add + cache.incr: two processes racing 300 increments each end at 600 exactly."""
    script = (
        "import django; django.setup()\n"
        "from apps.core import counters\n"
        "for _ in range(300): counters.increment('race', timeout=60)\n"
    )
    environ = dict(os.environ, DEBUG="1", CACHE_URL=CACHE_URL, DJANGO_SETTINGS_MODULE="govportal.settings")
    racers = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=environ) for _ in range(2)]
    assert [racer.wait(timeout=120) for racer in racers] == [0, 0]

    [key] = redis_cache.keys("*race")
    assert int(redis_cache.get(key)) == 600
    assert 0 < redis_cache.ttl(key) <= 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The URL of the test database pytest-django made (its name has a per-run suffix)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or ''}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


class Server:
    """`gunicorn govportal.wsgi` with one worker, in its own process group, on the test database and cache."""

    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path, self.port = env, log_path, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self) -> "Server":
        command = [
            sys.executable, "-m", "gunicorn", "govportal.wsgi:application", "--workers", "1",
            "--bind", f"127.0.0.1:{self.port}", "--timeout", "60",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=10).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or slow to answer on a loaded machine
                pass
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer within {BOOT_TIMEOUT}s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=20)


@pytest.fixture
def servers(redis_cache, tmp_path):
    """Two web processes on the test database and Redis: 4 sign-in failures lock a username, 3 API calls a day."""
    needs_postgres()
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "CACHE_"))}
    environ.update(
        DEBUG="1", DATABASE_URL=_database_url(), CACHE_URL=CACHE_URL, DB_CONN_MAX_AGE="0",
        LOGIN_FAILURE_LIMIT="4", LOGIN_IP_FAILURE_LIMIT="100", LOGIN_LOCKOUT_SECONDS="900", API_RATE_LIMIT="3/day",
        GOVPORTAL_VAR_DIR=str(tmp_path / "var"),
    )  # fmt: skip
    pair = [Server(environ, tmp_path / f"gunicorn-{n}.log").start() for n in (1, 2)]
    try:
        for server in pair:
            server.wait_ready()
        yield pair
    finally:
        for server in pair:
            server.stop()


def _sign_in(server: Server, username: str, password: str) -> requests.Response:
    """What a browser does: fetch the form (for its CSRF cookie and token), then post it."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/accounts/login/", timeout=30)
    token = browser.cookies["csrftoken"]
    assert form.status_code == 200
    fields = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    return browser.post(f"{server.url}/accounts/login/", data=fields, allow_redirects=False, timeout=30)


@pytest.mark.django_db(transaction=True)
def test_sign_in_failures_on_two_processes_count_against_one_lockout(cast, settings, servers):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]  # what the servers check with
    dana = User.objects.get(username="dana")
    dana.set_password(PASSWORD)
    dana.save()
    first, second = servers

    failures = [_sign_in(server, "dana", "wrong-password") for server in (first, second, first)]
    locking = _sign_in(second, "dana", "wrong-password")  # the 4th failure, on the other process
    refused = _sign_in(first, "dana", PASSWORD)  # with a cache per process this one would have 2 failures only

    assert [response.status_code for response in failures] == [200, 200, 200]
    assert locking.status_code == 429
    assert refused.status_code == 429
    assert "Sign-in for this username is locked for 15 minutes" in refused.text
    actions = list(AuditEvent.objects.filter(target_label="dana").values_list("action", flat=True))
    assert actions.count(Action.USER_LOGIN_FAILED) == 4
    assert actions.count(Action.USER_LOGIN_LOCKED) == 1
    assert Action.USER_LOGGED_IN not in actions


@pytest.mark.django_db(transaction=True)
def test_a_token_has_one_api_budget_across_two_processes(cast, servers):
    with transaction.atomic():
        account = service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name="churn-ci")
        _token, plaintext = token_create(
            actor=Actor.of(cast.alice), account=account, name="churn-ci token", scopes=["read"], expires_in_days=1
        )
    headers = {"Authorization": f"Bearer {plaintext}"}
    first, second = servers

    statuses = [
        requests.get(f"{server.url}/api/v1/environments/", headers=headers, timeout=30).status_code
        for server in (first, second, first, second)
    ]

    assert statuses == [200, 200, 200, 429]  # 3 a day in all, not 3 per process


def test_the_redis_tests_share_one_process_when_the_suite_runs_in_several(request):
    """`make test` runs in several processes; the tests that empty and use the suite's Redis databases (these, and
    the worker tests) must run in one of them, one at a time: tests/conftest.py groups them for --dist loadgroup."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("the suite runs in this one process (TEST_WORKERS=0): nothing to share")
    assert request.node.nodeid.endswith("@redis"), (
        f"{request.node.nodeid} is in no group: run with --dist loadgroup (as `make test` does)"
    )
