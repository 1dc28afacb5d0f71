"""Concurrent appends stay gapless and chained: the chain head row serialises them."""

import threading

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.verification import verify_chain
from tests.conftest import needs_postgres

from .helpers import append


def run_in_threads(threads: int, work) -> list[BaseException]:
    """Run `work(n)` in `threads` threads, each on its own database connection; return their errors."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n):
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # reported by the test, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in pool), "a writer hung"
    return errors


def assert_concurrent_appends_form_one_chain(threads: int, per_thread: int) -> None:
    before = AuditEvent.objects.count()
    errors = run_in_threads(threads, lambda n: append(per_thread))
    assert errors == []
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, before + threads * per_thread + 1))
    result = verify_chain()
    assert result.ok, str(result)
    assert result.count == before + threads * per_thread


def test_concurrent_appends_on_postgresql_are_gapless_and_verify(transactional_db):
    needs_postgres()
    assert_concurrent_appends_form_one_chain(threads=8, per_thread=50)


def test_concurrent_appends_on_sqlite_are_gapless_and_verify(transactional_db):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; PostgreSQL runs the larger test above")
    assert_concurrent_appends_form_one_chain(threads=4, per_thread=25)


def test_verifying_while_events_are_appended_reports_no_false_alarm(transactional_db):
    """audit_verify runs on a live portal: appends landing mid-verification are not tampering."""
    append(20)
    stop = threading.Event()
    results = []

    def work(n):
        if n == 0:
            try:
                for _ in range(60):
                    results.append(verify_chain())
            finally:
                stop.set()
            return
        while not stop.is_set():
            append(1)

    assert run_in_threads(4, work) == []
    failures = [str(result) for result in results if not result.ok]
    assert failures == []
    assert verify_chain().ok
