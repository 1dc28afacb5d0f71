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

from collections.abc import Iterator
from json.encoder import c_encode_basestring, c_make_encoder

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BooleanField, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

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
# OFFSET 0 keeps the inner query a subquery, so each context value is read from the JSON once per event.
_OUTER = "SELECT sequence, {before}, csv_changes, {after}, csv_odd FROM ({inner} OFFSET 0) AS e ORDER BY sequence"
_HEADER = ",".join(writer.CSV_HEADER) + "\r\n"


def _rows(queryset) -> Iterator[tuple]:
    """(sequence, the cells before `changes`, changes as JSON text, the cells after, odd), oldest first, through
    a server-side cursor in CHUNK-sized fetches."""
    inner = queryset.order_by("sequence").annotate(
        csv_timestamp=RawSQL(_TIMESTAMP, (), output_field=TextField()),  # noqa: S611 - constant SQL
        csv_changes=Cast("changes", TextField()),
        csv_odd=RawSQL(_ODD, (), output_field=BooleanField()),  # noqa: S611 - constant SQL
        **{
            f"csv_{key}": Coalesce(KeyTextTransform(key, "context"), Value(""), output_field=TextField())
            for key in _CONTEXT
        },
    )
    try:
        sql, params = inner.values_list(*_INNER).query.sql_with_params()
    except EmptyResultSet:  # e.g. a filter Django knows matches nothing
        return
    with connections[queryset.db].chunked_cursor() as cursor:
        cursor.execute(_OUTER.format(before=_BEFORE, after=_AFTER, inner=sql), params)
        while rows := cursor.fetchmany(writer.CHUNK):
            yield from rows


def _odd_line(queryset, sequence: int) -> str:
    """The row of one flagged event, as writer.python_csv_chunks() writes it."""
    (row,) = writer._tuples(queryset.filter(sequence=sequence))
    return writer._csv_bytes([writer._csv_row(row)]).decode("utf-8")


# writer._dumps_changes() (json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode) without building the C
# encoder anew for every event: what JSONEncoder.iterencode() builds, bound once (parsed JSON has no cycles to mark).
_encode_changes = c_make_encoder(None, None, c_encode_basestring, None, ": ", ", ", True, False, True)


def _changes_cell(text: str) -> str:
    """writer._dumps_changes(writer._json(text)) as a CSV cell."""
    try:
        cell = "".join(_encode_changes(orjson.loads(text), 0))
    except ValueError:  # what orjson does not read (NaN, 1e400): the standard library decides, as before
        cell = None
    if cell is None or "e+" in cell:  # a float of 1e16 or more may be an integer orjson read as a float
        cell = "".join(_encode_changes(writer._json(text), 0))
    if '"' in cell or "," in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_chunks(queryset, tally: writer.Tally) -> Iterator[bytes]:
    """writer.python_csv_chunks() on PostgreSQL: the same bytes."""
    lines = [_HEADER]  # the first chunk starts with the header; each holds CHUNK events, as in python_csv_chunks()
    for count, (sequence, before, changes, after, odd) in enumerate(_rows(queryset), 1):
        if odd:
            lines.append(_odd_line(queryset, sequence))
        else:
            cell = _changes_cell(changes)
            lines.append(f"{before},{cell},{after}\r\n")
        tally.add_event(sequence)
        if count % writer.CHUNK == 0:
            yield tally.add_bytes("".join(lines).encode("utf-8"))
            lines.clear()
    yield tally.add_bytes("".join(lines).encode("utf-8"))
