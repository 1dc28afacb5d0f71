"""The CSV export that PostgreSQL writes (exports/fast_csv.py) is byte for byte the one Python writes.

writer.python_csv_chunks() is the definition (and the SQLite path). These events put in every cell what makes CSV
hard: unicode, commas, quotes, CR and LF, formula prefixes (= + - @ tab CR '), empty text, NULLs, JSON values of
every type in `context`, odd floats and huge integers in `changes`, years the server writes differently.
"""

import itertools
import threading
from datetime import UTC, datetime

import pytest

from apps.audit.models import AuditEvent
from apps.compliance.exports import fast_csv, writer
from tests.conftest import needs_postgres

TEXTS = (
    "plain", "", "Zürich — naïve ✓ 東京 😀", 'a, "quoted" label', "line one\nline two", "cr\ronly", "crlf\r\nend",
    "=1+1", "+1", "-1", "@SUM(A1)", "\tTab", "\rCR first", "'quoted", "back\\slash", "comma,", '"', "tab\tinside",
    "e+5 1.0, 2e-07",
)  # fmt: skip
KINDS = ("user", "", "=x", "+", "a,b", '"q"', "\tt", "l\nn", "'k", "é✓", "\r")  # actor_kind holds 10 characters
CONTEXTS = (
    {"request_id": "=cmd|' /C calc'!A0", "client_ip": "10.0.0.1", "source": "web"},
    {},
    {"request_id": None, "client_ip": None, "source": None},
    {"request_id": 12, "client_ip": True, "source": 1.5},  # not strings: Python writes these
    {"request_id": {"nested": [1, "x"]}, "client_ip": ["a", "b"], "source": False, "other": "ignored"},
    {"source": 'line\nbreak, "q"', "client_ip": "-10.0.0.2"},
    {"request_id": "@abc", "client_ip": "+1", "source": "'x"},
)
CHANGES = (
    {"description": ["plain", 'a, "quoted"\r\nmultiline — naïve ✓'], "score": [0.5, 0.75]},
    {},
    {"tiny": 1e-05, "huge": 1e16, "two": 2.0, "third": 1 / 3, "big": 2**70, "negative": -(2**70), "max": 2**64 - 1},
    {"nulls": [None, None], "flags": [True, False], "empty": ["", {}], "nested": {"b": {"z": 1, "a": [1.5, "é"]}}},
    [1, 2, "three, four"],
    "just text, with a comma",
    5,
    {"ctrl": "\x01\x1f", "e": "1e+16 is text", "uni": "\u2028😀"},
)
TIMES = (
    datetime(2026, 3, 1, 12, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # PostgreSQL writes year 0999: Python writes this row
    datetime(9999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC),
)


def insert_events(count: int, **fixed) -> None:
    """Events with varied values in every column, or the `fixed` ones (no chain: exports do not verify it)."""
    texts, contexts, changes, times, kinds = (
        itertools.cycle(values) for values in (TEXTS, CONTEXTS, CHANGES, TIMES, KINDS)
    )
    offset = 1 + (AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0)
    for n in range(count):
        values = {
            "sequence": offset + n, "timestamp": next(times), "actor_id": 42 if n == 0 else None,
            "actor_label": next(texts), "actor_kind": next(kinds), "action": next(texts),
            "target_type": next(texts), "target_id": next(texts), "target_label": next(texts),
            "team_id": (None, 1, 2)[n % 3], "model_id": n % 5 or None, "version_id": (n * 7) % 4 or None,
            "environment_id": n if n % 2 else None, "request_id": n % 3 or None, "changes": next(changes),
            "context": next(contexts), "prev_hash": next(texts) + str(n), "hash": f"{next(texts)}{offset + n},\"h\"",
        }  # fmt: skip
        AuditEvent(**values | fixed).save(force_insert=True)


def both(queryset) -> tuple[tuple, tuple]:
    """(bytes, count, ranges, sha256) from the Python writer and from the PostgreSQL one."""
    results = []
    for chunks in (writer.python_csv_chunks, fast_csv.csv_chunks):
        tally = writer.Tally()
        data = b"".join(chunks(queryset, tally))
        results.append((data, tally.count, tally.ranges, tally.sha256.hexdigest()))
    return results[0], results[1]


@pytest.fixture
def varied(db):
    needs_postgres()
    insert_events(len(TEXTS) * len(CONTEXTS) * 2)


def test_the_server_written_csv_is_the_python_written_csv(varied, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 7)  # several chunks, and a last one that is not full
    python, server = both(AuditEvent.objects.all())
    assert server == python
    assert python[1] == AuditEvent.objects.count()
    assert b'"a, ""quoted"" label"' in python[0] and b"'=1+1" in python[0]  # the events do hold the hard cases


def test_filtered_exports_with_gaps_are_the_same_bytes(varied):
    queryset = AuditEvent.objects.filter(team_id=1).exclude(model_id=3)
    python, server = both(queryset)
    assert server == python and len(python[2]) > 1  # several ranges of sequences


def test_pages_over_sparse_and_dense_stretches_are_the_same_bytes(varied, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 4)  # pages of 4 events: ranges widen over sparse stretches, then narrow
    insert_events(40, team_id=3)  # a dense stretch after a sparse one for team 3
    queryset = AuditEvent.objects.filter(team_id__in=[3]) | AuditEvent.objects.filter(sequence=5)
    python, server = both(queryset)
    assert server == python and python[1] == 41


def test_an_empty_export_is_the_header_alone(varied):
    python, server = both(AuditEvent.objects.none())
    assert server == python == ((",".join(writer.CSV_HEADER) + "\r\n").encode(), 0, [], python[3])


def test_csv_chunks_takes_the_server_path_on_postgresql(varied, monkeypatch):
    monkeypatch.setattr(writer, "python_csv_chunks", None)  # would fail if called
    data = b"".join(writer.csv_chunks(AuditEvent.objects.all(), writer.Tally()))
    assert data.startswith(b"sequence,timestamp,")


def test_a_context_that_is_not_an_object_fails_alike(db):
    needs_postgres()
    insert_events(1, context=["not", "an", "object"])  # no append writes this; only a forger could
    for chunks in (writer.python_csv_chunks, fast_csv.csv_chunks):
        with pytest.raises(AttributeError):
            b"".join(chunks(AuditEvent.objects.all(), writer.Tally()))


@pytest.fixture
def committed(transactional_db):
    needs_postgres()
    insert_events(len(TEXTS) * len(CONTEXTS) * 2)


def test_outside_a_transaction_a_thread_reads_ahead_and_the_bytes_are_the_same(committed, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 7)
    threads = []
    original = fast_csv._pages_read_ahead
    monkeypatch.setattr(fast_csv, "_pages_read_ahead", lambda *args: threads.append(1) or original(*args))
    python, server = both(AuditEvent.objects.all())
    assert server == python and threads == [1]


def test_a_reader_that_stops_early_stops_the_thread(committed, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 3)
    before = threading.active_count()
    chunks = fast_csv.csv_chunks(AuditEvent.objects.all(), writer.Tally())
    first = next(chunks)
    assert first.startswith(b"sequence,") and threading.active_count() == before + 1
    chunks.close()  # the browser went away
    assert threading.active_count() == before


def test_every_page_reads_the_snapshot_the_export_started_with(committed, monkeypatch):
    """The read-ahead thread pages through one REPEATABLE READ snapshot, as the single cursor it replaced: a grant
    revoked while an export runs (here: the team the filter's subquery reads renamed away) changes no later page."""
    from apps.accounts.models import Team

    Team.objects.create(pk=1, name="keep", slug="keep")
    monkeypatch.setattr(writer, "CHUNK", 3)
    queryset = AuditEvent.objects.filter(team_id__in=Team.objects.filter(name="keep").values("pk"))
    expected = b"".join(writer.python_csv_chunks(queryset, writer.Tally()))
    assert expected.count(b"\n") > 30  # many pages of 3

    chunks = fast_csv.csv_chunks(queryset, writer.Tally())
    started = b""
    while started.count(b"\n") < 2:  # the header and at least one event: the thread has read its first page
        started += next(chunks)
    Team.objects.filter(pk=1).update(name="gone")

    assert started + b"".join(chunks) == expected
