"""The CSV export on PostgreSQL: the server writes every cell but one, Python the `changes` cell.

writer.python_csv_chunks() defines the CSV. Here PostgreSQL builds, per event, the text of the nine cells
before `changes` and the ten after it, quoted and neutralised exactly as the csv module and writer.neutralise()
do:

- a text cell starting with = + - @ tab CR or ' gets a leading ' (neutralise());
- a cell holding " , CR or LF is put in double quotes, its " doubled (csv.QUOTE_MINIMAL with lineterminator
  CRLF); an empty text or a NULL is an empty cell;
- the time is ISO 8601 UTC with microseconds and a Z, as writer._timestamp() writes it.

The `changes` cell is JSON as Python writes it (sorted keys, ", " and ": ", floats in Python's form), which no
SQL function writes, so Python writes that one. An event whose cells the server would not write exactly as
Python does (a year outside 1000..9999, a context that is not an object or holds request_id, client_ip or
source as anything but a string or null) is flagged, and Python writes that whole row the usual way.
tests/audit/test_fast_csv.py holds both writers to the same bytes.
"""

import contextlib
import queue
import threading
from codecs import escape_decode
from collections.abc import Iterator
from json.encoder import c_encode_basestring, c_make_encoder

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BooleanField, Max, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from apps.audit.models import AuditEvent

from . import writer

# The first characters neutralise() prefixes with a ' (= + - @ tab CR '), as code points for ascii().
_FORMULA_CODES = ", ".join(str(ord(character)) for character in sorted(writer.FORMULA_START))
# What makes csv.QUOTE_MINIMAL quote a cell: the delimiter, the quote character, a character of the CRLF ending.
_SPECIAL = ("'\"'", "','", "E'\\n'", "E'\\r'")


def _cell(column: str, *, neutralise: bool = True) -> str:
    """SQL for the CSV cell of a text column of the inner query (never NULL there)."""
    text = f"(CASE WHEN ascii({column}) IN ({_FORMULA_CODES}) THEN '''' || {column} ELSE {column} END)"
    text = text if neutralise else column
    special = " OR ".join(f"strpos({column}, {character}) > 0" for character in _SPECIAL)
    return f"(CASE WHEN {special} THEN '\"' || replace({text}, '\"', '\"\"') || '\"' ELSE {text} END)"


def _number(column: str) -> str:
    return f"coalesce({column}::text, '')"


_CONTEXT = ("request_id", "client_ip", "source")
_INNER = (
    "sequence", "actor_label", "actor_kind", "action", "target_type", "target_id", "target_label", "hash",
    "prev_hash", "actor_id", "team_id", "model_id", "version_id", "environment_id", "request_id", "csv_timestamp",
    "csv_changes", "csv_odd", *(f"csv_{key}" for key in _CONTEXT),
)  # fmt: skip
_TIMESTAMP = """to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_ODD = " OR ".join((
    "NOT (timestamp >= '1000-01-01T00:00:00Z' AND timestamp < '10000-01-01T00:00:00Z')",
    "jsonb_typeof(context) <> 'object'",
    *(f"coalesce(jsonb_typeof(context -> '{key}'), 'null') NOT IN ('string', 'null')" for key in _CONTEXT),
))  # fmt: skip
_BEFORE = " || ',' || ".join((
    "sequence::text", "csv_timestamp", _cell("actor_label"), _cell("actor_kind"), _number("actor_id"),
    _cell("action"), _cell("target_type"), _cell("target_id"), _cell("target_label"),
))  # fmt: skip
_AFTER = " || ',' || ".join((
    *(_cell(f"csv_{key}") for key in _CONTEXT), _number("team_id"), _number("model_id"), _number("version_id"),
    _number("environment_id"), _number("request_id"), _cell("hash", neutralise=False),
    _cell("prev_hash", neutralise=False),
))  # fmt: skip
# The LIMIT of each page keeps the inner query a subquery, so each context value is read from the JSON once.
_OUTER = "SELECT sequence, {before}, csv_changes, {after}, csv_odd FROM ({inner}) AS e ORDER BY sequence"
_HEADER = (",".join(writer.CSV_HEADER) + "\r\n").encode()
# Stand-ins for the page bounds while Django compiles the query; each page puts its own values in their place.
_AFTER_SEQUENCE, _UP_TO_SEQUENCE = -7_319_283_746_501, -7_319_283_746_502
_PAGES_AHEAD = 2


def _page_query(queryset) -> tuple[str, list, int, int] | None:
    """The SQL of one page of events and its parameters, with the positions of the page bounds in them."""
    inner = queryset.filter(sequence__gt=_AFTER_SEQUENCE, sequence__lte=_UP_TO_SEQUENCE).order_by("sequence")
    inner = inner.annotate(
        csv_timestamp=RawSQL(_TIMESTAMP, (), output_field=TextField()),  # noqa: S611 - constant SQL
        csv_changes=Cast("changes", TextField()),
        csv_odd=RawSQL(_ODD, (), output_field=BooleanField()),  # noqa: S611 - constant SQL
        **{
            f"csv_{key}": Coalesce(KeyTextTransform(key, "context"), Value(""), output_field=TextField())
            for key in _CONTEXT
        },
    )
    try:
        sql, params = inner.values_list(*_INNER)[: writer.CHUNK].query.sql_with_params()
    except EmptyResultSet:  # e.g. a filter Django knows matches nothing
        return None
    params = list(params)
    return (
        _OUTER.format(before=_BEFORE, after=_AFTER, inner=sql),
        params,
        params.index(_AFTER_SEQUENCE),
        params.index(_UP_TO_SEQUENCE),
    )


def _pages(raw_connection, page, newest: int) -> Iterator[list[bytes]]:
    """COPY one page of events after another (lists of COPY text lines, one per event), oldest first.

    Appends take the next sequence under the chain head's lock and events never change, so the events up to the
    newest sequence read at the start are what one query would have read then: paging by sequence reads the same
    rows. Each page reads at most CHUNK events from a bounded range of sequences, so it costs the same whatever
    the table's size and whatever plan the server picks; the range doubles while pages come back sparse (a
    narrow filter).
    """
    sql, params, after_at, up_to_at = page
    last, span = 0, writer.CHUNK
    with raw_connection.cursor() as cursor:
        while last < newest:
            params[after_at], params[up_to_at] = last, min(last + span, newest)
            lines: list[bytes] = []
            cursor.copy_expert(f"COPY ({cursor.mogrify(sql, params).decode()}) TO STDOUT", _Sink(lines.append))
            if lines:
                yield lines
            if len(lines) == writer.CHUNK:  # the range may hold more: go on after the last one, in small steps
                last, span = int(lines[-1].split(b"\t", 1)[0]), writer.CHUNK
            else:
                last = params[up_to_at]
                span = span * 2 if len(lines) < writer.CHUNK // 2 else span


class _Sink:
    """What copy_expert() writes to: one call per row."""

    def __init__(self, write):
        self.write = write


def _read_ahead(alias: str, page, newest: int, pages: queue.Queue, stop: threading.Event) -> None:
    """In a thread, on its own connection: put pages in `pages` (then None) while the caller writes the last one."""
    connection = connections[alias]  # this thread's own connection
    try:
        connection.ensure_connection()
        raw = connection.connection
        # Every page reads one snapshot, as the single cursor it replaces did: a grant revoked while the export runs
        # (the filter's subqueries read the memberships) changes no page after the first.
        raw.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
        for lines in _pages(raw, page, newest):
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    pages.put(lines, timeout=0.1)
                    break
            if stop.is_set():
                return
        pages.put(None)
    except BaseException as error:  # handed to the reader, who raises it
        pages.put(error)
    finally:
        connection.close()


def _pages_read_ahead(alias: str, page, newest: int) -> Iterator[list[bytes]]:
    pages: queue.Queue = queue.Queue(_PAGES_AHEAD)
    stop = threading.Event()
    reader = threading.Thread(target=_read_ahead, args=(alias, page, newest, pages, stop), daemon=True)
    reader.start()
    try:
        while (lines := pages.get()) is not None:
            if isinstance(lines, BaseException):
                raise lines
            yield lines
    finally:
        stop.set()
        reader.join()


def _rows(queryset) -> Iterator[tuple]:
    """(sequence, the cells before `changes`, changes as JSON text, the cells after, odd), oldest first, as bytes.

    Outside a transaction a thread reads the next page on its own connection while this one is written, so the
    server's work and Python's overlap; inside one (the rows it sees may be its own, uncommitted), pages are read
    here, on this connection. Memory holds at most _PAGES_AHEAD pages of CHUNK events."""
    page = _page_query(queryset)
    if page is None:
        return
    connection = connections[queryset.db]
    newest = AuditEvent.objects.using(queryset.db).aggregate(newest=Max("sequence"))["newest"] or 0
    if connection.in_atomic_block:
        connection.ensure_connection()
        pages = _pages(connection.connection, page, newest)
    else:
        pages = _pages_read_ahead(queryset.db, page, newest)
    for lines in pages:
        for line in lines:
            fields = line[:-1].split(b"\t")
            if b"\\" in line:  # COPY's text format escapes backslashes and control characters
                fields = [escape_decode(field)[0] if b"\\" in field else field for field in fields]
            sequence, before, changes, after, odd = fields
            yield int(sequence), before, changes, after, odd == b"t"


def _odd_line(queryset, sequence: int) -> bytes:
    """The row of one flagged event, as writer.python_csv_chunks() writes it. The page that named it already applied
    the export's filter in the export's snapshot, and events never change: read it by its sequence alone, so a grant
    revoked since the export began cannot drop it."""
    (row,) = writer._tuples(AuditEvent.objects.using(queryset.db).filter(sequence=sequence))
    return writer._csv_bytes([writer._csv_row(row)])


# writer._dumps_changes() (json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode) without building the C
# encoder anew for every event: what JSONEncoder.iterencode() builds, bound once (parsed JSON has no cycles to mark).
_encode_changes = c_make_encoder(None, None, c_encode_basestring, None, ": ", ", ", True, False, True)


def _changes_cell(text: bytes) -> bytes:
    """writer._dumps_changes(writer._json(text)) as a CSV cell."""
    try:
        cell = "".join(_encode_changes(orjson.loads(text), 0))
    except ValueError:  # what orjson does not read (NaN, 1e400): the standard library decides, as before
        cell = None
    if cell is None or "e+" in cell:  # a float of 1e16 or more may be an integer orjson read as a float
        cell = "".join(_encode_changes(writer._json(text.decode("utf-8")), 0))
    if '"' in cell or "," in cell or "\n" in cell or "\r" in cell:
        cell = '"' + cell.replace('"', '""') + '"'
    return cell.encode("utf-8")


def csv_chunks(queryset, tally: writer.Tally) -> Iterator[bytes]:
    """writer.python_csv_chunks() on PostgreSQL: the same bytes."""
    lines = [_HEADER]  # the first chunk starts with the header; each holds CHUNK events, as in python_csv_chunks()
    for count, (sequence, before, changes, after, odd) in enumerate(_rows(queryset), 1):
        if odd:
            lines.append(_odd_line(queryset, sequence))
        else:
            lines += (before, b",", _changes_cell(changes), b",", after, b"\r\n")
        tally.add_event(sequence)
        if count % writer.CHUNK == 0:
            yield tally.add_bytes(b"".join(lines))
            lines.clear()
    yield tally.add_bytes(b"".join(lines))
