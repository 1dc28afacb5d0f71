"""Registration over HTTP: versions registered a second through the single-version endpoint and through the bulk
endpoint, with one and with two clients, against gunicorn on a throw-away PostgreSQL database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/registration.py \\
        [--single 200] [--bulk 2000] [--batch 500] [--workers 4]

What it measures. A scratch database is made next to the one DATABASE_URL names (and dropped at the end), with a
team, a service account holding a `register` token, and one model per client and per run. gunicorn serves the
portal as production does (DEBUG off, persistent database connections, `--workers` processes, the API's rate limit
lifted so it is not what is measured). Each client is its own process and opens a fresh HTTP connection for every
request, as a CI job does; clients start together and the rate is every version they registered over the wall time
from the start to the last client's last answer. Clients register into different models, so what they share is
the audit chain's head (one lock for every append) and the server's workers, not a model's lock.

- single: `POST /api/v1/models/{slug}/versions/`, one version a request (--single versions per client);
- bulk: `POST /api/v1/models/{slug}/versions/bulk/`, --batch versions a request (--bulk versions per client).

Every version carries a digest, a commit, an artifact URI, two metrics and a parent, and every one must come back
201: a refused request stops the benchmark. Afterwards the portal must hold exactly one `version.created` event per
version registered, and the audit chain must verify. The p50 column is the median time of one request.

MLflow beside it, in the same run (unless --no-mlflow): `mlflow server` from its own virtualenv (as bench/inventory.py
starts it, --workers processes, its own scratch database) registers the same number of versions one a request
through `POST /api/2.0/mlflow/model-versions/create` (source URI, the digest and commit as tags, a description),
with one and with two clients, each into its own registered model, fresh connection a request. Each run is
repeated --rounds times, GovPortal's and MLflow's taking turns so that a shared machine's load weighs on both alike,
and the median rate of the rounds is compared. The targets
(issue 13): the single-version endpoint at least MLflow's rate with one and with two clients; the bulk endpoint at
least 3x MLflow's per-version rate.
"""

import argparse
import json
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")  # this process only makes and fills the scratch database; gunicorn runs DEBUG off

from bench.report import print_table  # noqa: E402 - after sys.path

BOOT_TIMEOUT = 60
REQUEST_TIMEOUT = 120


def entry(client: int, n: int) -> dict:
    return {
        "version": f"1.{client}.{n}", "artifact_uri": f"s3://bench/c{client}/1.{client}.{n}/model.pkl",
        "artifact_digest": f"sha256:{n:064x}", "git_commit_sha": f"{client:08x}{n:032x}",
        "metrics": {"auc": 0.8, "ks": 0.4}, "parent": "0.0.1",
    }  # fmt: skip


def post(url: str, token: str, body: dict) -> tuple[int, float]:
    """(status, seconds) of one POST on a fresh connection."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 - our server
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
            response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
        print(f"{url}: {status} {err.read()[:500]!r}", file=sys.stderr)
    return status, time.perf_counter() - started


def mlflow_client_run(base: str, name: str, client: int, count: int, start_at: float):
    """One client process against `mlflow server`: wait for the common start, then register `count` versions of
    the registered model `name` one a request; (versions, latencies, error)."""
    while time.time() < start_at:
        time.sleep(0.001)
    url = f"{base}/api/2.0/mlflow/model-versions/create"
    done, latencies = 0, []
    while done < count:
        version = entry(client, done)
        body = {
            "name": name, "source": version["artifact_uri"], "description": f"Bench {version['version']}",
            "tags": [{"key": "digest", "value": version["artifact_digest"]},
                     {"key": "commit", "value": version["git_commit_sha"]}],
        }  # fmt: skip
        status, seconds = post(url, "", body)
        if status != 200:
            return done, latencies, f"HTTP {status}"
        done += 1
        latencies.append(seconds)
    return done, latencies, ""


def client_run(base: str, token: str, slug: str, client: int, mode: str, count: int, batch: int, start_at: float):
    """One client process: wait for the common start, then register `count` versions; (versions, latencies)."""
    while time.time() < start_at:
        time.sleep(0.001)
    url = f"{base}/api/v1/models/{quote(slug)}/versions/" + ("bulk/" if mode == "bulk" else "")
    done, latencies = 0, []
    while done < count:
        size = min(batch, count - done) if mode == "bulk" else 1
        entries = [entry(client, done + i) for i in range(size)]
        status, seconds = post(url, token, {"versions": entries} if mode == "bulk" else entries[0])
        if status != 201:
            return done, latencies, f"HTTP {status}"
        done += size
        latencies.append(seconds)
    return done, latencies, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """DATABASE_URL with the scratch database's name in place of the portal's (its options kept)."""
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + quote(connection.settings_dict["NAME"], safe="")))


def start_server(
    name: str, command: list[str], *, cwd, env: dict, log: Path, health: str, timeout: float = BOOT_TIMEOUT
) -> subprocess.Popen:
    """Start `command` in its own process group, logging to `log`, and wait until `health` answers (or fail with
    the log's tail). Shared by the benchmarks' gunicorn and `mlflow server`."""
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(health, timeout=5):  # noqa: S310
                return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise SystemExit(f"{name} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


class Server:
    """gunicorn on the scratch database, in its own process group (stopped with it, whatever happens)."""

    def __init__(self, workers: int, tmp: Path, env_overrides: dict | None = None):
        self.port, self.log = free_port(), tmp / "gunicorn.log"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "CACHE_"))}
        env.update(
            DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=database_url(),
            SECURE_SSL_REDIRECT="0", API_RATE_LIMIT="1000000/minute", GOVPORTAL_VAR_DIR=str(tmp / "var"),
            PORTAL_BASE_URL=self.url,
        )  # fmt: skip
        env.update(env_overrides or {})
        command = [sys.executable, "-m", "gunicorn", "govportal.wsgi:application", "--workers", str(workers),
                   "--bind", f"127.0.0.1:{self.port}", "--timeout", str(REQUEST_TIMEOUT)]  # fmt: skip
        self.process = start_server("gunicorn", command, cwd=ROOT, env=env, log=self.log, health=f"{self.url}/healthz")

    def stop(self) -> None:
        stop_server(self.process)


def main(options, tmp: Path) -> int:
    from django.db import connection, transaction

    from apps.accounts.models import User
    from apps.accounts.services import team_create
    from apps.accounts.tokens import service_account_create, token_create
    from apps.audit.actors import Actor
    from apps.audit.models import AuditEvent
    from apps.audit.verification import verify_chain
    from apps.inventory import services as inventory

    runs = [(mode, clients, n) for n in range(options.rounds) for clients in (1, 2) for mode in ("single", "bulk")]
    admin = Actor.of(User.objects.create(username="bench-admin", is_superuser=True, is_staff=True))
    team = team_create(actor=admin, name="Bench", slug="bench")
    with transaction.atomic():
        account = service_account_create(actor=admin, team=team, name="bench-ci")
        _, token = token_create(actor=admin, account=account, name="bench", scopes=["register"])
        slugs = {}
        for mode, clients, n in [("warm-up", 1, 0), *runs]:
            for client in range(clients):
                name = f"Bench {mode} {clients} r{n} c{client}"
                model = inventory.registered_model_register(actor=admin, team=team, name=name, risk_tier="low")
                inventory.model_version_create(actor=admin, model=model, version="0.0.1")  # every version's parent
                slugs[mode, clients, n, client] = model.slug
    connection.close()  # the server's workers are the only ones writing from here on

    results, total = {}, 0  # (server, mode, clients) -> [(seconds, client results)] over the rounds
    mlflow = MLflowSide(options, tmp) if options.mlflow else None
    server = Server(options.workers, tmp)
    try:
        # Each worker's first requests fill its caches (content types, permissions): not what is measured.
        warm = [(server.url, token, slugs["warm-up", 1, 0, 0], n, "single", 1, 1) for n in range(2 * options.workers)]
        _, warmed = race(client_run, warm)
        total += sum(done for done, _, _ in warmed)
        if mlflow:
            mlflow.warm_up()
        # Round after round, each run beside MLflow's: a shared machine's load then weighs on both alike.
        for mode, clients, n in runs:
            count = options.single if mode == "single" else options.bulk
            jobs = [(server.url, token, slugs[mode, clients, n, c], c, mode, count, options.batch)
                    for c in range(clients)]  # fmt: skip
            seconds, answers = race(client_run, jobs)
            failures = [error for _, _, error in answers if error]
            if failures:
                print(f"{mode} with {clients} client(s) failed: {failures}; see {server.log}", file=sys.stderr)
                return 1
            total += sum(done for done, _, _ in answers)
            results.setdefault(("GovPortal", mode, clients), []).append((seconds, answers))
            if mlflow and mode == "bulk":
                results.setdefault(("MLflow", "single", clients), []).append(mlflow.run(clients, n))
    finally:
        server.stop()
        if mlflow:
            mlflow.stop()

    paths = {("GovPortal", "single"): "POST …/versions/",
             ("GovPortal", "bulk"): f"POST …/versions/bulk/ ({options.batch} a request)",
             ("MLflow", "single"): "POST …/model-versions/create"}  # fmt: skip
    rows, rates = [], {}
    for (server_name, mode, clients), measured in results.items():
        rates[server_name, mode, clients] = statistics.median(versions(a) / seconds for seconds, a in measured)
        latencies = [latency for _, a in measured for _, client_latencies, _ in a for latency in client_latencies]
        rows.append((server_name, paths[server_name, mode], str(clients), f"{sum(versions(a) for _, a in measured):,}",
                     f"{rates[server_name, mode, clients]:,.0f}",
                     " ".join(f"{versions(a) / seconds:,.0f}" for seconds, a in measured),
                     f"{statistics.median(latencies) * 1000:,.0f} ms"))  # fmt: skip

    created = AuditEvent.objects.filter(action="version.created").count()
    expected = total + len(slugs)  # and the parents made above
    verification = verify_chain()
    print(f"\nRegistration over HTTP on {connection.vendor}: gunicorn with {options.workers} workers, DEBUG off; "
          f"{options.rounds} rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")  # fmt: skip
    header = ("server", "path", "clients", "versions", "versions/s (median)", "each round", "p50 a request")
    print_table(header, sorted(rows, key=lambda row: (row[2], row[0], row[1])))
    print(f"\nversion.created events: {created:,} for {expected:,} versions; audit chain: {verification}")
    if mlflow:
        print("\nTargets (issue 13), medians of the rounds, both measured in this run:")
        for clients in (1, 2):
            theirs = rates["MLflow", "single", clients]
            for mode, factor in (("single", 1), ("bulk", 3)):
                ours = rates["GovPortal", mode, clients]
                goal = f"at least {'' if factor == 1 else f'{factor}x '}MLflow's rate"
                verdict = "MET" if ours >= factor * theirs else "MISSED"
                print(f"- {mode}, {clients} client(s): {ours:,.0f}/s vs MLflow {theirs:,.0f}/s = {ours / theirs:.2f}x "
                      f"({goal}): {verdict}")  # fmt: skip
    return 0 if created == expected and verification.ok else 1


def versions(answers: list) -> int:
    return sum(done for done, _, _ in answers)


def race(function, jobs: list[tuple]) -> tuple[float, list]:
    """`function(*job, start_at)` for every job, each in its own process, all starting together; (seconds from the
    start to the last answer, results)."""
    spawn = multiprocessing.get_context("spawn")  # clients share nothing with this process's database connection
    with spawn.Pool(len(jobs)) as pool:
        pool.map(time.sleep, [0] * len(jobs))  # the clients' processes are up before the clock starts
        start_at = time.time() + 0.2
        results = pool.starmap(function, [(*job, start_at) for job in jobs])
    return time.time() - start_at, results


class MLflowSide:
    """`mlflow server` on its own scratch database, with a registered model per client and round."""

    def __init__(self, options, tmp: Path):
        from django.db import connection

        from bench.inventory import MLflow, mlflow_database

        self.options, self.drop = options, lambda: mlflow_database("drop", self.database)
        self.database = f"{connection.settings_dict['NAME']}_mlflow"
        self.server = MLflow(mlflow_database("create", self.database), options.workers, tmp)
        self.names = {}
        keys = [("warm-up", 0, 0)] + [(clients, n, c) for n in range(options.rounds) for clients in (1, 2)
                                      for c in range(clients)]  # fmt: skip
        for key in keys:
            self.names[key] = "bench-" + "-".join(map(str, key))
            status, _ = post(
                f"{self.server.url}/api/2.0/mlflow/registered-models/create", "", {"name": self.names[key]}
            )
            if status != 200:
                self.stop()
                raise SystemExit(f"MLflow refused to create {self.names[key]}: HTTP {status}; see {self.server.log}")

    def warm_up(self) -> None:
        jobs = [(self.server.url, self.names["warm-up", 0, 0], n, 1) for n in range(2 * self.options.workers)]
        race(mlflow_client_run, jobs)

    def run(self, clients: int, n: int) -> tuple[float, list]:
        jobs = [(self.server.url, self.names[clients, n, c], c, self.options.single) for c in range(clients)]
        seconds, answers = race(mlflow_client_run, jobs)
        failures = [error for _, _, error in answers if error]
        if failures:
            raise SystemExit(f"MLflow with {clients} client(s) failed: {failures}; see {self.server.log}")
        return seconds, answers

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=200, help="versions a client registers one by one (200)")
    parser.add_argument("--bulk", type=int, default=2000, help="versions a client registers in bulk (2,000)")
    parser.add_argument("--batch", type=int, default=500, help="versions a bulk request (500; at most 1,000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--database-url", help="PostgreSQL server to make the scratch database on (or DATABASE_URL)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every run; medians are reported (3)")
    parser.add_argument("--no-mlflow", dest="mlflow", action="store_false", help="do not measure MLflow beside it")
    options = parser.parse_args()
    if options.database_url:
        os.environ["DATABASE_URL"] = options.database_url

    import django

    django.setup()

    from django.db import connection

    from bench.throwaway import run_in_throwaway_database

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    from bench.inventory import MLFLOW_VENV

    if options.mlflow and not (MLFLOW_VENV / "bin/mlflow").exists():
        raise SystemExit(f"no MLflow at {MLFLOW_VENV}: build it with `.venv/bin/python -m tests.deployments.servers`")
    with tempfile.TemporaryDirectory(prefix="govportal-bench-registration-") as directory:
        sys.exit(run_in_throwaway_database(main, options, Path(directory), label="registration"))
