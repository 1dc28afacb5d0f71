"""Keyset (cursor) pages and a capped count for long lists: page 1 and page 1,000 cost the same.

An OFFSET page makes the database walk past every row before it, and a page count needs COUNT(*) over the
whole table; at a million rows both are seconds. A keyset page instead asks for the rows after the last one
shown, `WHERE (k1, k2, …) > (v1, v2, …) ORDER BY k1, k2, … LIMIT n`, which an index on (k1, k2, …) answers
by reading n rows wherever the page is. The count stops at `cap` ("1,000+").

    from apps.core import keyset

    page = keyset.paginate(queryset, keys=("name_lower", "name"), cursor=request.GET.get("cursor"), per_page=25)
    page.rows                      # the models of this page, in order
    page.next_cursor, page.previous_cursor   # opaque strings for ?cursor=, or None at either end
    page.count_label               # "987" or "1,000+"
    page.error                     # why a cursor was refused (the first page is shown instead), or ""

In a template: `{% include "partials/keyset_pagination.html" %}` with `page` in the context (it keeps the other
query parameters and replaces `cursor`). Rules for the keys:
- together they identify a row (end with a unique column: the primary key or a unique name), so no row is
  skipped or shown twice between pages;
- all run in one direction (`descending` turns them all): a mixed order ("newest first, then A to Z") cannot be
  compared as one row value; flip a key instead (see inventory.models.risk_rank_desc);
- each is a column or an annotation on the queryset, readable as an attribute of the rows (`pk` works);
- an index on the same keys, in the same order, is what makes the page cheap (check with EXPLAIN).
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import BooleanField, Expression, F, Value
from django.utils.dateparse import parse_datetime

# Lists count their rows up to 1,000. The count reads every row it counts: 10,000 were 4-6 ms of a list's SQL at
# 10k models (a third of the API's page of 100) for a figure nobody pages through, and a text search's 10,000
# matches at 100k models read 60k rows (100-140 ms). Past a thousand, a reader narrows the list with its filters.
COUNT_CAP = 1_000


class InvalidCursor(ValueError):
    """A cursor this list did not make (edited, truncated, or from another sort order)."""


class RowCompare(Expression):
    """`(a, b, …) < (x, y, …)` (or >): one row-value comparison, which a B-tree index on (a, b, …) answers."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, keys, values, operator: str):
        super().__init__()
        if operator not in ("<", ">"):
            raise ValueError("compare rows with < or >")
        self.keys, self.values, self.operator = list(keys), list(values), operator

    def get_source_expressions(self):
        return [*self.keys, *self.values]

    def set_source_expressions(self, expressions):
        half = len(expressions) // 2
        self.keys, self.values = list(expressions[:half]), list(expressions[half:])

    def as_sql(self, compiler, connection):
        sides, params = [], []
        for expressions in (self.keys, self.values):
            parts = []
            for expression in expressions:
                sql, expression_params = compiler.compile(expression)
                parts.append(sql)
                params.extend(expression_params)
            sides.append(f"({', '.join(parts)})")
        return f"{sides[0]} {self.operator} {sides[1]}", params


def _encode(direction: str, values) -> str:
    tagged = [{"t": value.isoformat()} if isinstance(value, datetime) else value for value in values]
    text = json.dumps({"d": direction, "v": tagged}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> tuple[str, list]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor(
            "This page link is not valid (it may have been cut short): showing the first page."
        ) from None
    if not isinstance(data, dict) or data.get("d") not in ("n", "p"):
        raise InvalidCursor("This page link is not valid: showing the first page.")
    values = data.get("v")
    if not isinstance(values, list) or len(values) != size:
        raise InvalidCursor("This page link belongs to another sort order: showing the first page.")
    decoded = []
    for value in values:
        if isinstance(value, dict):
            value = parse_datetime(str(value.get("t", "")))
            if value is None:
                raise InvalidCursor("This page link is not valid: showing the first page.")
        elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InvalidCursor("This page link is not valid: showing the first page.")
        decoded.append(value)
    return data["d"], decoded


@dataclass
class Page:
    """One keyset page: its rows, the cursors either side, and how many rows the whole list holds up to a cap."""

    rows: list
    next_cursor: str | None
    previous_cursor: str | None
    count: int
    count_capped: bool
    error: str = ""
    keys: tuple = field(default=(), repr=False)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def count_label(self) -> str:
        """'987', or '1,000+' when the list holds more rows than were counted."""
        return f"{self.count:,}+" if self.count_capped else f"{self.count:,}"


def capped_count(queryset, cap: int) -> tuple[int, bool]:
    """(rows, capped): counts at most cap + 1 rows (`SELECT COUNT(*) FROM (… LIMIT cap + 1)`), never the table."""
    counted = queryset.order_by().values("pk")[: cap + 1].count()
    return min(counted, cap), counted > cap


def _key_value(row, key: str):
    return row.pk if key == "pk" else getattr(row, key)


def paginate(
    queryset, *, keys, cursor: str | None = None, per_page: int = 25, descending: bool = False,
    cap: int | None = None, counted=None,
) -> Page:  # fmt: skip
    """The page of `queryset` that `cursor` points at (the first page without one), ordered by `keys`. `counted`:
    the same rows without what only shows them, to count instead of `queryset` (an annotation through a relation,
    F("team__slug"), keeps its join in the count, and three such joins made a count of 1,000 models 2 to 4 times
    dearer).

    Queries: two, whatever the page (the rows, plus one more row to know if a next page exists; the capped
    count), plus the queryset's own prefetches. A cursor that does not fit is not an error page: the first page
    is shown with `error` saying why."""
    keys = tuple(keys)
    error, direction, values = "", "n", None
    if cursor:
        try:
            direction, values = _decode(cursor, len(keys))
        except InvalidCursor as exc:
            error = str(exc)
    backwards = direction == "p"
    ordering = [f"-{key}" if descending != backwards else key for key in keys]
    rows_qs = queryset.order_by(*ordering)
    if values is not None:
        operator = ">" if descending == backwards else "<"
        rows_qs = rows_qs.filter(RowCompare([F(key) for key in keys], [Value(value) for value in values], operator))
    rows = list(rows_qs[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    count, capped = capped_count(queryset if counted is None else counted, COUNT_CAP if cap is None else cap)
    first_key = [_key_value(rows[0], key) for key in keys] if rows else None
    last_key = [_key_value(rows[-1], key) for key in keys] if rows else None
    if backwards:
        next_cursor = _encode("n", last_key) if rows else None
        previous_cursor = _encode("p", first_key) if more else None
    else:
        next_cursor = _encode("n", last_key) if more else None
        previous_cursor = _encode("p", first_key) if values is not None and rows else None
    return Page(rows, next_cursor, previous_cursor, count, capped, error, keys)
