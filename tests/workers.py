"""Real `celery worker` processes over the real Redis broker, for tests that must see what a worker does.

Shared by tests/gitsync/test_worker.py and tests/deployments/test_worker.py. The worker is a separate process, so
these tests commit their rows (`transaction=True`) on PostgreSQL. Redis is CELERY_TEST_BROKER_URL (default
redis://127.0.0.1:6379/7): a database number these tests own, emptied before and after each test (they run one at a
time). Without Redis they skip, saying so; with CI set they fail instead, so a CI machine without Redis cannot pass
silently.
"""

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import pools

from govportal.celery import app
from tests.conftest import needs_postgres

BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/7")
QUEUE = "celery"  # the default queue, on the broker database these tests own
TIMEOUT = 60  # seconds to wait for an outcome; generous, as a loaded CI machine is slow, never asserted on
WORKER_APP_NAME = f"govportal-test-worker-{os.getpid()}"  # PGAPPNAME: finds the worker's database sessions


# -- the broker ---------------------------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_redis(url: str = BROKER_URL, variable: str = "CELERY_TEST_BROKER_URL"):
    """A client for a Redis database the tests own; skip (or fail, in CI) when Redis is not there."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
        return client
    except redis.RedisError as exc:
        client.close()
        message = (
            f"needs Redis at {url} ({exc}): start it with `redis-server --daemonize yes --bind 127.0.0.1` "
            f"or point {variable} at one"
        )
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def _drop_broker_connections() -> None:
    """Forget pooled broker connections, so the next send connects to whatever broker_url now says."""
    pools.reset()  # closes and forgets kombu's process-wide pools, which app.pool would otherwise hand back
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


@contextlib.contextmanager
def broker():
    """The test process sends tasks to Redis instead of running them in-process; restored afterwards."""
    needs_postgres()
    client = require_redis()
    client.flushdb()
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    _drop_broker_connections()
    app.conf.update(task_always_eager=False, broker_url=BROKER_URL)
    try:
        yield client
    finally:
        _drop_broker_connections()
        app.conf.update(saved)
        try:
            client.flushdb()
        finally:
            client.close()


def queued_tasks(client) -> list[tuple[str, list]]:
    """(task name, positional arguments) of each message waiting in the queue, oldest first."""
    tasks = []
    for raw in reversed(client.lrange(QUEUE, 0, -1)):  # LPUSH: newest first
        message = json.loads(raw)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        tasks.append((message["headers"]["task"], args))
    return tasks


def task_result(task_id: str):
    """The stored result of a task a worker ran with CELERY_RESULT_BACKEND=BROKER_URL (see start_worker's env)."""
    from celery.backends.redis import RedisBackend

    backend = RedisBackend(app=app, url=BROKER_URL)
    return app.AsyncResult(task_id, backend=backend)


# -- the database, as the worker and a bystander see it -----------------------------------------------------


def database_url() -> str:
    """The URL of the test database pytest-django made (its name has a per-run suffix)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or ''}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def raw_connection():
    """A psycopg2 connection of its own (autocommit), for holding locks the way another process would."""
    import psycopg2

    db = connection.settings_dict
    raw = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"] or None,
        port=db["PORT"] or None, application_name="govportal-test-bystander",
    )  # fmt: skip
    raw.autocommit = True
    return raw


def worker_sessions(waiting_on_lock: bool = False) -> list[int]:
    """The database sessions of the test's workers (only those waiting for a lock, if asked)."""
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s"
    if waiting_on_lock:
        sql += " AND wait_event_type = 'Lock'"
    with connection.cursor() as cursor:
        cursor.execute(sql, [WORKER_APP_NAME])
        return [row[0] for row in cursor.fetchall()]


def end_worker_sessions() -> None:
    """Wait for a dead worker's sessions to go (PostgreSQL notices at its next read); end stragglers."""
    deadline = time.monotonic() + 30
    while worker_sessions() and time.monotonic() < deadline:
        time.sleep(0.2)
    with connection.cursor() as cursor:
        for pid in worker_sessions():
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


# -- the worker ---------------------------------------------------------------------------------------------


class Worker:
    """`celery -A govportal worker` in its own process group, on the test database and the test broker."""

    def __init__(self, env: dict, log_path, label: str = "test"):
        self.env, self.log_path = env, log_path
        self.name = f"{label}-{uuid.uuid4().hex[:8]}@%h"
        self.process = None

    def start(self) -> "Worker":
        command = [
            sys.executable, "-m", "celery", "-A", "govportal", "worker", "--pool=solo", "--concurrency=1",
            "--loglevel=INFO", "-n", self.name, "-Q", QUEUE, "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        hostname = self.name.replace("%h", "")
        wait_for(
            lambda: any(hostname in name for reply in app.control.ping(timeout=0.5) for name in reply),
            "the worker to answer a ping",
            worker=self,
        )

    def kill(self) -> None:
        """SIGKILL the worker and everything it started: no warm shutdown, no acknowledgement."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def wait_for(predicate, what: str, timeout: float = TIMEOUT, worker: Worker | None = None):
    """Poll `predicate` until it returns something true; fail saying what did not happen (and the worker's log)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if worker is not None and worker.exited():
            pytest.fail(
                f"the worker exited (code {worker.process.returncode}) while waiting for {what}:\n{worker.log()}"
            )
        if time.monotonic() > deadline:
            log = f"\nworker log:\n{worker.log()}" if worker is not None else ""
            pytest.fail(f"no {what} within {timeout} s{log}")
        time.sleep(0.1)


@contextlib.contextmanager
def workers(*, mirror_dir, signing_key, tmp_path, label: str = "test"):
    """`start(**env)` starts a worker (extra environment variables on top of the production-like ones); every
    worker started is killed, and its database sessions ended, when the block ends."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "DATABASE_URL"))}
    base.update(
        DJANGO_SETTINGS_MODULE="govportal.settings",
        DEBUG="0",  # as in production: so the worker needs its secret, hosts and signing key given
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=BROKER_URL,
        GITSYNC_MIRROR_DIR=str(mirror_dir),
        GITSYNC_ALLOW_LOCAL="1",  # the tests' repositories are local ones, registered by a portal admin
        GOVPORTAL_VAR_DIR=str(tmp_path / "worker-var"),
        AUDIT_SIGNING_KEY=signing_key,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",  # no SMTP server here: mail goes nowhere
        GIT_CONFIG_GLOBAL=os.environ["GIT_CONFIG_GLOBAL"],
        GIT_CONFIG_NOSYSTEM="1",
        PGAPPNAME=WORKER_APP_NAME,
        PYTHONUNBUFFERED="1",
    )
    started: list[Worker] = []

    def start(**env) -> Worker:
        worker = Worker({**base, **env}, tmp_path / f"worker-{len(started) + 1}.log", label=label)
        started.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()
        end_worker_sessions()
