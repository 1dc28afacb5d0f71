"""/audit/ at scale: HTML bytes, server time p50/p95 and queries per request, with goals met or missed.

Builds, in a throw-away database, N models (bulk INSERT, across seven teams) and M chained audit events
(bench/audit_export.py's generator, COPY on PostgreSQL), then asks /audit/ through Django's test client as an
auditor of three of the teams (so restrict() applies) for: the first page, a deep page through a cursor (half-way
down the trail), filtered pages (a model by name, an actor, an action prefix), and the pickers' suggestions.
Server time is the time of one test-client request (the whole Django stack, no network).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal \\
        .venv/bin/python bench/audit_page.py --models 100000 --events 1000000

--trigram creates the pg_trgm index on UPPER(name) that the inventory migrations add on their branch (same name and
definition), to measure the suggestions as they will run once both are merged.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.report import print_table  # noqa: E402

GOAL_BYTES = 100 * 1024
GOAL_MS = 25.0
TEAMS = 7  # bench/audit_export.py scopes its events to teams 1-7
TRIGRAM = "CREATE INDEX IF NOT EXISTS model_name_trgm ON inventory_registeredmodel USING gin (UPPER(name) gin_trgm_ops)"


def populate(models: int, events: int, trigram: bool):
    from apps.accounts.models import Membership, Role, Team, User
    from apps.inventory.models import RegisteredModel
    from bench.audit_export import generate

    started = time.perf_counter()
    teams = [Team.objects.create(name=f"Team {n}", slug=f"team-{n}") for n in range(1, TEAMS + 1)]
    assert [team.pk for team in teams] == list(range(1, TEAMS + 1)), "the generator scopes events to teams 1-7"
    for first in range(0, models, 10_000):
        RegisteredModel.objects.bulk_create(
            RegisteredModel(
                name=f"Model {n:06d} {'credit' if n % 3 else 'fraud'} scorecard",
                slug=f"model-{n:06d}",
                team=teams[n % TEAMS],
                risk_tier="low",
            )
            for n in range(first, min(first + 10_000, models))
        )
    auditor = User.objects.create_user("audrey", password="bench-only")  # noqa: S106 — a throw-away database
    for team in teams[:3]:  # audits three teams of seven: restrict() has work to do
        Membership.objects.create(user=auditor, team=team, role=Role.AUDITOR)
    for n in range(1, 62):  # the generator's actors are user1..user61
        person = User.objects.create_user(f"user{n}")
        Membership.objects.create(user=person, team=teams[n % TEAMS], role=Role.CONTRIBUTOR)
    print(f"{models:,} models, {TEAMS} teams in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    generate(events)
    print(f"{events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        if trigram and connection.vendor == "postgresql":
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute(TRIGRAM)
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    return auditor


def measure(client: Client, url: str, runs: int) -> dict:
    client.get(url)  # warm
    times, queries, size, status = [], 0, 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        queries, size, status = len(captured), len(response.content), response.status_code
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(0, round(len(times) * 0.95) - 1)], "queries": queries,
            "bytes": size, "status": status}  # fmt: skip


def main(options) -> int:
    from apps.core import keyset

    auditor = populate(options.models, options.events, options.trigram)
    client = Client()
    client.force_login(auditor)
    middle = options.events // 2
    deep = keyset._encode("n", [middle])  # the cursor a Next link half-way down the trail carries
    paths = [
        ("first page", "/audit/"),
        ("deep page (cursor, half-way)", f"/audit/?cursor={deep}"),
        ("filtered: model by slug", "/audit/?model=model-000100"),  # pk 101: its events are in team 1
        ("filtered: actor", "/audit/?actor=user7"),
        ("filtered: action prefix, deep", f"/audit/?action=request.&cursor={deep}"),
        ("suggest: models '000042'", "/audit/suggest/?kind=model&q=000042"),
        ("suggest: actors 'user1'", "/audit/suggest/?kind=actor&q=user1"),
    ]
    rows, missed = [], 0
    for label, url in paths:
        figures = measure(client, url, options.runs)
        page = not url.startswith("/audit/suggest/")
        size_goal = ("met" if figures["bytes"] < GOAL_BYTES else "MISSED") if page else "—"
        time_goal = "met" if figures["p50"] < GOAL_MS else "MISSED"
        missed += (size_goal == "MISSED") + (time_goal == "MISSED")
        rows.append((label, str(figures["status"]), f"{figures['bytes'] / 1024:,.1f} KB", f"{figures['p50']:.1f}",
                     f"{figures['p95']:.1f}", str(figures["queries"]), size_goal, time_goal))  # fmt: skip
    print(f"\ndatabase: {connection.vendor}; {options.models:,} models, {options.events:,} events; "
          f"{options.runs} requests per path; pg_trgm name index: {'yes' if options.trigram else 'no'}")  # fmt: skip
    print(f"goals: pages < {GOAL_BYTES // 1024} KB of HTML and < {GOAL_MS:.0f} ms p50 server time; suggestions "
          f"< {GOAL_MS:.0f} ms\n")  # fmt: skip
    print_table(("path", "status", "HTML", "p50 ms", "p95 ms", "queries", "< 100 KB", "< 25 ms"), rows)
    goals = sum(row[-2] != "—" for row in rows) + len(rows)
    print(f"\n{goals - missed} of {goals} goals met")
    return 0


if __name__ == "__main__":
    from bench.throwaway import run_in_throwaway_database

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--trigram", action="store_true", help="add the inventory branch's pg_trgm name index")
    sys.exit(run_in_throwaway_database(main, parser.parse_args(), label="auditpage"))
