"""Where one request's time goes, per path, without HTTP: the inventory benchmark's paths through Django's test client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/request_profile.py \\
        [--user dana] [--repeat 40] [--only model,api_list] [--profile model [--sort tottime]]

Reads an existing database (fill one with `manage.py seed_scale`; nothing is written but the test client's session),
with DEBUG off and the production settings otherwise, as gunicorn serves it, so the cached template loader and the
static files manifest are in play (run `manage.py collectstatic` with the same GOVPORTAL_VAR_DIR first). For each
path: the median wall time, the least CPU time of this process (the steadiest figure on a shared machine: it leaves
out PostgreSQL's side and other processes), the time spent waiting for SQL, and the number of queries. --profile
prints cProfile's heaviest functions for one path. Per-request overhead does not depend on the data's size.

The audit paths (audit, audit_deep, audit_model, audit_actor) are bench/audit_page.py's; a database filled by its
populate() (a migrated, empty database, then `populate(10_000, 100_000, True)`) is read as --user audrey.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.update(DEBUG="0", SECURE_SSL_REDIRECT="0", API_RATE_LIMIT="1000000/minute")
os.environ.setdefault("SECRET_KEY", "request-profile-" + "x" * 40)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")


def paths_of(user) -> dict[str, str]:
    """The inventory benchmark's paths, on a model in the middle of the inventory, and the audit trail's as `user`
    reads it (bench/audit_page.py's paths: filtered by the model and the person of the newest event `user` reads)."""
    from apps.approvals.models import DeploymentRequest
    from apps.core import keyset
    from apps.inventory.models import RegisteredModel

    models = RegisteredModel.objects.order_by("pk")
    model = models[models.count() // 2]
    version = model.versions.order_by("-pk").values_list("version", flat=True).first()
    request = DeploymentRequest.objects.order_by("-pk").values_list("pk", flat=True).first()
    paths = {
        "home": "/",
        "api_list": "/api/v1/models/?page_size=100",
        "api_search": f"/api/v1/models/?page_size=100&team={model.team.slug}&search=card",
        "api_versions": f"/api/v1/models/{model.slug}/versions/",
        "api_version": f"/api/v1/models/{model.slug}/versions/{version}/",
        "api_model": f"/api/v1/models/{model.slug}/",
        "models": "/models/",
        "models_q": "/models/?q=card",
        "model": f"/models/{model.slug}/",
        "version": f"/models/{model.slug}/versions/{version}/",
        "requests": "/approvals/requests/",
        "inbox": "/approvals/",
        "request": f"/approvals/requests/{request}/" if request else "",
        "repositories": "/repositories/",
        "matrix": "/deployments/",
        # a page from the middle of the names: a cursor page costs what the first does
        "matrix_mid": f"/deployments/?cursor={keyset._encode('n', [model.name])}",
    } | audit_paths(user)
    return {name: path for name, path in paths.items() if path}


def audit_paths(user) -> dict[str, str]:
    from apps.audit.models import AuditEvent
    from apps.core import keyset
    from apps.inventory.models import RegisteredModel

    events = AuditEvent.objects.restrict(user).order_by("-sequence")
    newest = events.values_list("sequence", flat=True).first()
    if newest is None:
        return {}
    model_id = events.exclude(model_id=None).values_list("model_id", flat=True).first()
    model = RegisteredModel.objects.filter(pk=model_id).values_list("slug", flat=True).first()
    actor = events.filter(actor_kind="user").values_list("actor_label", flat=True).first()
    return {
        "audit": "/audit/",
        "audit_deep": f"/audit/?cursor={keyset._encode('n', [newest // 2])}",  # a Next link half-way down the trail
        "audit_model": f"/audit/?model={model}" if model else "",
        "audit_actor": f"/audit/?actor={actor}" if actor else "",
    }


def main(options) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User

    user = User.objects.get(username=options.user)
    client = Client()
    client.force_login(user)

    def get(path):
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")

    waited = [0.0]

    def timed_sql(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            waited[0] += time.perf_counter() - started

    paths = paths_of(user)
    chosen = options.only.split(",") if options.only else list(paths)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {options.repeat} requests a path as "
          f"{options.user}\n{'path':14} {'wall p50':>9} {'CPU min':>8} {'SQL':>6} {'queries':>7}")  # fmt: skip
    for name in chosen:
        for _ in range(3):  # the process-wide caches (templates, content types, URL resolvers) fill first
            get(paths[name])
        with CaptureQueriesContext(connection) as queries:
            get(paths[name])
        count = len(queries)  # now: the next request's start empties the log it reads
        walls, cpus, waited[0] = [], [], 0.0
        with connection.execute_wrapper(timed_sql):
            for _ in range(options.repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                get(paths[name])
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        print(f"{name:14} {statistics.median(walls) * 1000:9.1f} {min(cpus) * 1000:8.1f} "
              f"{waited[0] / options.repeat * 1000:6.1f} {count:7d}")  # fmt: skip
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(options.repeat):
            get(paths[options.profile])
        profiler.disable()
        pstats.Stats(profiler).sort_stats(options.sort).print_stats(options.limit)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="dana", help="who reads (dana)")
    parser.add_argument("--repeat", type=int, default=40, help="requests a path (40)")
    parser.add_argument("--only", default="", help="comma-separated path names (all)")
    parser.add_argument("--profile", default="", help="a path name to profile with cProfile")
    parser.add_argument("--sort", default="cumulative", help="cProfile's sort order (cumulative)")
    parser.add_argument("--limit", type=int, default=60, help="functions cProfile prints (60)")
    arguments = parser.parse_args()

    import django

    django.setup()
    main(arguments)
