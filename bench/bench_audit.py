"""Audit chain figures: append throughput (serialised on the chain head) and verification speed.

Runs in a throw-away test database on whatever DATABASE_URL points at (SQLite by default):
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/bench_audit.py
"""

import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "5000"))


def main() -> None:
    from apps.audit.actions import Action
    from apps.audit.actors import Actor
    from apps.audit.services import Target, record
    from apps.audit.verification import verify_chain

    actor = Actor.system("bench")
    started = time.perf_counter()
    for index in range(EVENTS):
        with transaction.atomic():
            record(
                action=Action.MODEL_UPDATED,
                actor=actor,
                target=Target("bench.item", index, f"item {index}"),
                changes={"description": ["old", f"new {index}"], "score": [0.5, index / 7]},
            )
    append_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = verify_chain()
    verify_seconds = time.perf_counter() - started
    assert result.ok, result
    tracemalloc.start()  # a second run for memory: tracing slows Python down several times
    verify_chain()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"database: {connection.vendor}")
    print(f"append: {EVENTS} events, one transaction each: {EVENTS / append_seconds:,.0f} events/s")
    print(
        f"verify: {result.count} events in {verify_seconds:.2f} s ({result.count / verify_seconds:,.0f} events/s), "
        f"peak Python allocation {peak / 1024:,.0f} KiB"
    )


if __name__ == "__main__":
    from bench.throwaway import run_in_throwaway_database

    run_in_throwaway_database(main, label="bench")
