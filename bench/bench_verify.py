"""Verification speed: how many events per second verify_chain() (what `audit_verify` runs) recomputes.

Generates BENCH_EVENTS (default 100,000) chained events in a throw-away test database on whatever DATABASE_URL
points at (SQLite by default), with bench/audit_export.py's generator (COPY on PostgreSQL: 2M events take minutes,
not the half hour of bench/generate.py's ORM path), then verifies them:
    DEBUG=1 .venv/bin/python bench/bench_verify.py
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/bench_verify.py
Prints the old per-row path's rate for comparison, then verify_chain in one process and in BENCH_WORKERS
processes (default: what audit_verify uses), and the CPU time one process and its PostgreSQL backend spend per
event (what bounds the rate on idle cores, and what others' load on a shared machine changes least).
BENCH_PROFILE=1 also prints the top of a cProfile of one run.
"""

import os
import sys
import time
import tracemalloc
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.audit_export import generate  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(min(4, os.cpu_count() or 1))))


def reference_scan() -> int:
    """What verify_chain did per row before the fast path: ORM dicts, payload_from_values, compute_hash."""
    from apps.audit import hashing
    from apps.audit.models import AuditEvent, payload_from_values
    from apps.audit.verification import _COLUMNS

    count = 0
    for row in AuditEvent.objects.order_by("sequence").values(*_COLUMNS).iterator(chunk_size=2000):
        assert hashing.compute_hash(payload_from_values(row)) == row["hash"]
        count += 1
    return count


def timed(function, runs: int = RUNS) -> tuple[float, float, object]:
    """Best wall-clock and CPU seconds (this process only) over `runs` calls, and the last result."""
    best_wall = best_cpu = float("inf")
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def backend_cpu_seconds() -> float | None:
    """CPU seconds the PostgreSQL backend serving this connection has used (a server on this machine), or None."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # the server runs elsewhere
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_event() -> str:
    """One single-process verification's CPU time per event, Python's and the server's: what a shared machine's
    load does not change much, and what bounds the rate on idle cores."""
    from apps.audit.verification import verify_chain

    server, python = backend_cpu_seconds(), time.process_time()
    result = verify_chain()
    python = (time.process_time() - python) / result.count * 1e6
    if server is None:
        return f"{python:.2f} us of Python per event (the server's CPU time is not readable from here)"
    server = (backend_cpu_seconds() - server) / result.count * 1e6
    cores = os.cpu_count() or 1
    return (
        f"{python:.2f} us of Python + {server:.2f} us of PostgreSQL per event: on {cores} idle cores at most "
        f"{cores / (python + server) * 1e6:,.0f} events/s"
    )


def main() -> None:
    from apps.audit.checkpoints import checkpoint_sign
    from apps.audit.verification import verify_chain

    started = time.perf_counter()
    generate(EVENTS)
    checkpoint_sign()  # one signed checkpoint, so verification also checks one
    generated = time.perf_counter() - started
    print(f"database: {connection.vendor}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"generate: {EVENTS:,} events in {generated:.1f} s ({EVENTS / generated:,.0f} events/s)")

    wall, cpu, count = timed(reference_scan, runs=1)
    print(f"reference per-row path (before): {count / wall:,.0f} events/s ({count / cpu:,.0f} per CPU-second)")
    wall, cpu, result = timed(verify_chain)
    assert result.ok, result
    print(
        f"verify_chain, 1 process: {result.count:,} events in {wall:.2f} s: {result.count / wall:,.0f} events/s "
        f"({result.count / cpu:,.0f} per CPU-second)"
    )
    wall, _, result = timed(lambda: verify_chain(workers=WORKERS))
    assert result.ok, result
    print(f"verify_chain, {WORKERS} processes: {wall:.2f} s: {result.count / wall:,.0f} events/s")
    wall, _, _ = timed(lambda: call_command("audit_verify", stdout=StringIO()), runs=1)
    print(f"manage.py audit_verify (--workers {min(4, os.cpu_count() or 1)}): {result.count / wall:,.0f} events/s")

    print(f"CPU time per event (1 process): {cpu_per_event()}")

    tracemalloc.start()
    verify_chain()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak Python allocation while verifying (1 process): {peak / 1024:,.0f} KiB")

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(verify_chain)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    from bench.throwaway import run_in_throwaway_database

    run_in_throwaway_database(main, label="verify")
