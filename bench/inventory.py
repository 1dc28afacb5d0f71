"""The inventory at scale beside MLflow, in one run: p50 and p95 per path, the ratio, and GovPortal's queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/inventory.py \\
        [--models 10000] [--versions-per-model 10] [--requests 100000] [--repeat 40] [--workers 4]

What it does. A scratch PostgreSQL database for GovPortal is made next to the one DATABASE_URL names, and a
second one for MLflow (both dropped at the end). GovPortal is filled by `manage.py seed_scale` (N models, M
versions each, two tags a model; every object audited), plus --requests deployment requests and a few hundred
repositories made directly (furniture for the request and repository lists, not audited). MLflow gets the same
models, names and versions, with two tags a model and one a version, written straight into its tables (its REST
API would take an hour for 100k versions) after `mlflow server` made its schema.

Both are served by gunicorn with --workers processes, DEBUG off for GovPortal: `mlflow server` from MLflow's
own virtualenv (~/.cache/govportal-tests/venvs/mlflow-3.17.2-py3.11, built by `python -m tests.deployments.servers`;
its PostgreSQL driver is borrowed from this virtualenv through PYTHONPATH, the cached venv is left as it is).
Every request opens a fresh HTTP connection. Each path is asked --repeat times after a warm-up of two requests a
worker; p50 and p95 are over those. GovPortal reads as `dana` (contributor in every seeded team, so restrict()
is exercised; a session cookie), MLflow anonymously. "queries" is the number of SQL queries GovPortal runs for the
path, counted once in this process with Django's test client on the same database.

The targets (issue 13): lists at most 1/4 of MLflow's search time at 100k versions and under 25 ms at 1M; the
detail paths at most MLflow's time. The machine may be shared: the ratio is what compares, both sides measured in
the same minutes.
"""

import argparse
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")  # this process only fills the scratch databases; gunicorn runs DEBUG off
# One key for this process and the server: the session cookie made here must be valid there.
os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)

from bench.registration import Server, free_port, start_server, stop_server  # noqa: E402 - after sys.path
from bench.report import print_table  # noqa: E402

MLFLOW_VENV = Path.home() / ".cache/govportal-tests/venvs/mlflow-3.17.2-py3.11"
BOOT_TIMEOUT = 120
REQUEST_TIMEOUT = 120


def get(url: str, cookie: str = "") -> float:
    """Seconds for one GET on a fresh connection; a non-200 answer stops the benchmark."""
    request = urllib.request.Request(url)  # noqa: S310 - our own servers
    if cookie:
        request.add_header("Cookie", cookie)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as err:
        raise SystemExit(f"GET {url}: {err.code} {err.read()[:500]!r}") from None
    return time.perf_counter() - started


def timings(url: str, repeat: int, cookie: str = "") -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    samples = sorted(get(url, cookie) * 1000 for _ in range(repeat))
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


class MLflow:
    """`mlflow server` (gunicorn, --workers) on its own PostgreSQL database, in its own process group."""

    def __init__(self, database_url: str, workers: int, tmp: Path):
        self.port, self.log = free_port(), tmp / "mlflow.log"
        self.url = f"http://127.0.0.1:{self.port}"
        shim = tmp / "driver"
        shim.mkdir()
        import psycopg2

        site = Path(psycopg2.__file__).resolve().parents[1]
        for name in ("psycopg2", "psycopg2_binary.libs"):
            if (site / name).exists():
                (shim / name).symlink_to(site / name)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "DATABASE"))}
        env.update(PYTHONPATH=str(shim), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        command = [str(MLFLOW_VENV / "bin/mlflow"), "server", "--backend-store-uri", database_url, "--host",
                   "127.0.0.1", "--port", str(self.port), "--workers", str(workers), "--gunicorn-opts",
                   f"--timeout {REQUEST_TIMEOUT}", "--default-artifact-root", str(tmp / "mlartifacts")]  # fmt: skip
        self.process = start_server(
            "mlflow server", command, cwd=tmp, env=env, log=self.log, health=f"{self.url}/health", timeout=BOOT_TIMEOUT
        )

    def stop(self) -> None:
        stop_server(self.process)


def mlflow_database(action: str, name: str) -> str:
    """Create or drop MLflow's scratch database on DATABASE_URL's server; its SQLAlchemy URL."""
    import psycopg2

    parts = urlsplit(os.environ["DATABASE_URL"])
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if action == "create":
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2", path="/" + quote(name, safe="")))


def fill_mlflow(database_url: str, models: list[tuple[str, str, list[str]]], per_model: int) -> None:
    """The same models (name, team, tags) and versions straight into MLflow's tables, with COPY."""
    import psycopg2

    connection = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    now = int(time.time() * 1000)
    rows = {"registered_models": io.StringIO(), "registered_model_tags": io.StringIO(),
            "model_versions": io.StringIO(), "model_version_tags": io.StringIO()}  # fmt: skip
    for index, (name, team, tags) in enumerate(models):
        rows["registered_models"].write(f"{name}\t{now + index}\t{now + index}\t{name}: seeded for benchmarks.\n")
        rows["registered_model_tags"].write(f"team\t{team}\t{name}\n")
        rows["registered_model_tags"].write(f"tag\t{','.join(tags)}\t{name}\n")
        for version in range(1, per_model + 1):
            rows["model_versions"].write(
                f"{name}\t{version}\t{now + index}\t{now + index}\tdana\tNone\ts3://models/{name}/{version}\t"
                f"{secrets.token_hex(16)}\tREADY\n"
            )
            rows["model_version_tags"].write(f"run\t{secrets.token_hex(5)}\t{name}\t{version}\n")
    columns = {
        "registered_models": ("name", "creation_time", "last_updated_time", "description"),
        "registered_model_tags": ("key", "value", "name"),
        "model_versions": ("name", "version", "creation_time", "last_updated_time", "user_id", "current_stage",
                           "source", "run_id", "status"),
        "model_version_tags": ("key", "value", "name", "version"),
    }  # fmt: skip
    with connection, connection.cursor() as cursor:
        for table, buffer in rows.items():
            buffer.seek(0)
            cursor.copy_from(buffer, table, columns=columns[table])
        cursor.execute("ANALYZE")
    connection.close()


def seed_governportal(options) -> dict:
    """seed_scale, then the request and repository furniture; what the paths need to name."""
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import Team, User
    from apps.approvals.models import DeploymentRequest, RequestState
    from apps.core import keyset
    from apps.gitsync.models import GitRepository
    from apps.inventory.models import Environment, ModelVersion, RegisteredModel

    started = time.monotonic()
    call_command("seed_scale", models=options.models, versions_per_model=options.versions_per_model, force=True,
                 stdout=io.StringIO())  # fmt: skip
    seeded = time.monotonic() - started
    dana = User.objects.get(username="dana")
    teams = list(Team.objects.filter(name__startswith="Scale team ").order_by("name"))
    environment = Environment.objects.create(name="production", slug="production", order=30, protected=True)
    version_ids = list(ModelVersion.objects.order_by("pk").values_list("pk", flat=True)[: options.requests])
    states = [RequestState.APPROVED, RequestState.REJECTED, RequestState.CANCELLED, RequestState.PENDING]
    for start in range(0, options.requests, 10_000):
        DeploymentRequest.objects.bulk_create(
            DeploymentRequest(version_id=version_ids[n % len(version_ids)], environment=environment,
                              requester=dana, justification="Seeded for benchmarks.", state=states[n % 4])
            for n in range(start, min(start + 10_000, options.requests))
        )  # fmt: skip
    GitRepository.objects.bulk_create(
        GitRepository(name=f"repo-{n:04d}", url=f"https://git.example/repo-{n:04d}.git", team=teams[n % len(teams)])
        for n in range(500)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    names = RegisteredModel.objects.order_by("pk")
    middle = names[options.models // 2]
    page = min(1000, max(1, options.models // 25))  # a deep page of /models/ (25 rows a page)
    deep = names.order_by("name").annotate(**{}).values_list("name", flat=True)
    # The cursor of page `page` is the row before it: its (lower(name), name), as the pager writes it.
    anchor = sorted(deep, key=lambda name: (name.lower(), name))[(page - 1) * 25 - 1] if page > 1 else None
    models = [
        (model.name, model.team.slug, sorted(tag.name for tag in model.tags.all()))
        for model in RegisteredModel.objects.select_related("team").prefetch_related("tags").order_by("pk")
    ]
    return {
        "seconds": seeded, "dana": dana, "team": teams[1].slug, "slug": middle.slug, "name": middle.name,
        "request": DeploymentRequest.objects.order_by("-pk").values_list("pk", flat=True).first(),
        "deep_page": page, "deep_cursor": keyset._encode("n", [anchor.lower(), anchor]) if anchor else "",
        "models": models,
    }  # fmt: skip


def cursor_of_page(base: str, cookie: str, path: str, page: int) -> str:
    """The API's `next` link after `page - 1` pages (walked once, not timed)."""
    import json

    url = base + path
    for _ in range(page - 1):
        request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
            url = json.loads(response.read())["next"]
    return url


def mlflow_page_token(base: str, query: dict, page: int) -> str:
    import json

    token = ""
    for _ in range(page - 1):
        params = urlencode({**query, **({"page_token": token} if token else {})})
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/registered-models/search?{params}") as response:  # noqa: S310
            token = json.loads(response.read()).get("next_page_token", "")
    return f"{base}/api/2.0/mlflow/registered-models/search?" + urlencode({**query, "page_token": token})


def query_count(path: str, user) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    client.get(path)  # warm the process-wide caches, as a worker's first request does
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(queries)


def main(options, tmp: Path) -> int:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    mlflow_name = f"{connection.settings_dict['NAME']}_mlflow"
    mlflow_url = mlflow_database("create", mlflow_name)
    servers = []
    try:
        data = seed_governportal(options)
        client = Client()
        client.force_login(data["dana"])
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        connection.close()

        mlflow = MLflow(mlflow_url, options.workers, tmp)
        servers.append(mlflow)
        started = time.monotonic()
        fill_mlflow(mlflow_url, data["models"], options.versions_per_model)
        mlflow_fill = time.monotonic() - started
        # The pages name their CSS and JS through the static files manifest: collected as a deployment does.
        env = {**os.environ, "GOVPORTAL_VAR_DIR": str(tmp / "var"), "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1"}
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
        portal = Server(options.workers, tmp, {"SECRET_KEY": os.environ["SECRET_KEY"]})
        servers.append(portal)

        slug, name, team, ml = data["slug"], data["name"], data["team"], mlflow.url + "/api/2.0/mlflow"
        version = f"1.{options.versions_per_model // 2}.0"
        page10 = min(10, (options.models + 99) // 100)  # page 10, or the last page of a small run
        api_page10 = cursor_of_page(portal.url, cookie, "/api/v1/models/?page_size=100", page10)
        ml_page10 = mlflow_page_token(mlflow.url, {"max_results": 100}, page10)
        search = urlencode({"max_results": 100, "filter": f"name ILIKE '%card%' AND tags.team = '{team}'"})
        deep = f"/models/?cursor={data['deep_cursor']}" if data["deep_cursor"] else "/models/"
        # (label, GovPortal path, MLflow URL or None, kind): kind "list" targets 1/4 of MLflow, "detail" MLflow's;
        # "floor" has no target: each server's cheapest answer (a health check), what HTTP, a fresh connection and
        # the framework cost before any page's own work.
        paths = [
            ("Floor: health check", "/healthz", f"{mlflow.url}/health", "floor"),
            ("API model list, page of 100", "/api/v1/models/?page_size=100",
             f"{ml}/registered-models/search?max_results=100", "list"),
            ("API list, team filter + search", f"/api/v1/models/?page_size=100&team={team}&search=card",
             f"{ml}/registered-models/search?{search}", "list"),
            (f"API list, page {page10} (cursor)", api_page10.removeprefix(portal.url), ml_page10, "list"),
            ("API versions of one model", f"/api/v1/models/{slug}/versions/",
             f"{ml}/model-versions/search?" + urlencode({"filter": f"name='{name}'"}), "detail"),
            ("API one version", f"/api/v1/models/{slug}/versions/{version}/",
             f"{ml}/model-versions/get?" + urlencode({"name": name, "version": options.versions_per_model // 2 + 1}),
             "detail"),
            ("API one model", f"/api/v1/models/{slug}/", f"{ml}/registered-models/get?" + urlencode({"name": name}),
             "detail"),
            ("HTML /models/ (25 rows)", "/models/", f"{ml}/registered-models/search?max_results=25", "list"),
            ("HTML /models/?q=card", "/models/?q=card",
             f"{ml}/registered-models/search?" + urlencode({"max_results": 25, "filter": "name ILIKE '%card%'"}),
             "list"),
            (f"HTML /models/ page {data['deep_page']:,}", deep, None, "list"),
            ("HTML model page", f"/models/{slug}/", f"{ml}/registered-models/get?" + urlencode({"name": name}),
             "detail"),
            ("HTML version page", f"/models/{slug}/versions/{version}/",
             f"{ml}/model-versions/get?" + urlencode({"name": name, "version": options.versions_per_model // 2 + 1}),
             "detail"),
            ("HTML /approvals/requests/", "/approvals/requests/", None, "list"),
            ("HTML /approvals/ (inbox)", "/approvals/", None, "list"),
            ("HTML request page", f"/approvals/requests/{data['request']}/", None, "detail"),
            ("HTML /repositories/", "/repositories/", None, "list"),
        ]  # fmt: skip
        rows = []
        try:
            measure(paths, portal, cookie, options, data, rows)
        except SystemExit:
            print(f"GovPortal's log:\n{portal.log.read_text()[-4000:]}", file=sys.stderr)
            raise
    finally:
        for server in reversed(servers):
            server.stop()
        connection.close()
        mlflow_database("drop", mlflow_name)
    report(options, data, mlflow_fill, rows)
    return 0


def measure(paths, portal, cookie, options, data, rows) -> None:
    """Each path's (label, p50, p95, MLflow's p50, p95, ratio, goal, queries) into `rows`."""
    from django.db import connection

    for label, path, ml_url, kind in paths:
        for _ in range(2 * options.workers):  # each worker's first requests fill its caches
            get(portal.url + path, cookie)
            if ml_url:
                get(ml_url)
        ours = timings(portal.url + path, options.repeat, cookie)
        theirs = timings(ml_url, options.repeat) if ml_url else None
        ratio = f"{ours[0] / theirs[0]:.2f}x" if theirs else "—"
        goal = "—"
        if theirs and kind != "floor":
            goal = ("<= 0.25x" if kind == "list" else "<= 1x") + (
                " ✓" if ours[0] / theirs[0] <= (0.25 if kind == "list" else 1) else " ✗"
            )
        queries = query_count(path, data["dana"])
        rows.append((label, f"{ours[0]:.1f}", f"{ours[1]:.1f}",
                     f"{theirs[0]:.1f}" if theirs else "—", f"{theirs[1]:.1f}" if theirs else "—",
                     ratio, goal, str(queries)))  # fmt: skip
        connection.close()


def report(options, data, mlflow_fill, rows) -> None:
    versions = options.models * options.versions_per_model
    print(f"\nInventory at {versions:,} versions ({options.models:,} models x {options.versions_per_model}), "
          f"{options.requests:,} requests; gunicorn with {options.workers} workers for both, fresh connection per "
          f"request, {options.repeat} requests a path; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"CPUs (shared machine: compare the ratios)")  # fmt: skip
    print(f"seed_scale: {data['seconds']:.1f} s; MLflow's tables filled by COPY in {mlflow_fill:.1f} s\n")
    print_table(("path", "GovPortal p50 ms", "p95", "MLflow p50 ms", "p95", "ratio (p50)", "goal", "queries"), rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000, help="models (10,000)")
    parser.add_argument("--versions-per-model", type=int, default=10, help="versions a model (10)")
    parser.add_argument("--requests", type=int, default=100_000, help="deployment requests (100,000)")
    parser.add_argument("--repeat", type=int, default=40, help="timed requests a path (40)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers for each server (4)")
    parser.add_argument("--database-url", help="PostgreSQL server to make the scratch databases on (or DATABASE_URL)")
    options = parser.parse_args()
    if options.database_url:
        os.environ["DATABASE_URL"] = options.database_url
    if not (MLFLOW_VENV / "bin/mlflow").exists():
        raise SystemExit(f"no MLflow at {MLFLOW_VENV}: build it with `.venv/bin/python -m tests.deployments.servers`")

    import django

    django.setup()

    from django.db import connection

    from bench.throwaway import run_in_throwaway_database

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    with tempfile.TemporaryDirectory(prefix="govportal-bench-inventory-") as directory:
        sys.exit(run_in_throwaway_database(main, options, Path(directory), label="inventory"))
