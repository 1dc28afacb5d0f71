"""Input no page or endpoint can use, found before any view runs (InvalidInputMiddleware) or by a form's field.

A NUL character: PostgreSQL can neither store nor compare it, so it would reach the database as a 500. Text that
is not UTF-8: Django would silently turn it into U+FFFD. A name or value longer than anything the portal takes.
Each check returns (where, what is wrong) for the first problem, or None.
"""

import json
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

MAX_NAME = 100
MAX_QUERY_VALUE = 1_000  # filters, search, cursors, `next`: all far shorter
MAX_FORM_VALUE = 200_000  # twice the longest field (a model card, 100,000 characters)

Problem = tuple[str, str] | None


def raw_bytes(text: str) -> bytes:
    """The raw bytes of a WSGI/ASGI value such as QUERY_STRING (servers hand them over as Latin-1 text)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def check_urlencoded(raw: bytes, *, max_value: int, what: str) -> Problem:
    """name=value pairs as Django's QueryDict splits them (on `&`, `+` for a space), decoded strictly as UTF-8."""
    fields = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        try:
            fields.append((_unquote(name), _unquote(value)))
        except UnicodeDecodeError:
            return "__all__", f"The {what} is not valid UTF-8."
    return check_fields(fields, max_value=max_value)


def _unquote(part: bytes) -> str:
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")


def check_fields(fields: Iterable[tuple[str, str]], *, max_value: int) -> Problem:
    for name, value in fields:
        if len(name) > MAX_NAME:
            return "__all__", f"A parameter name is longer than {MAX_NAME} characters."
        if "\x00" in name:
            return "__all__", "A parameter name contains a NUL character."
        if "\x00" in value:
            return name, f"{name} contains a NUL character."
        if len(value) > max_value:
            return name, f"{name} is longer than {max_value:,} characters."
    return None


def check_json(body: bytes) -> Problem:
    """A JSON body with a NUL (`\\u0000`) in a key or a string. A body that does not parse is left to the parser."""
    if b"\\u0000" not in body:  # the only way JSON can spell a NUL: most bodies never need parsing here
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return ("body", "The body contains a NUL character (\\u0000).") if contains_nul(document) else None


def contains_nul(document) -> bool:
    """Whether a parsed JSON document holds a NUL in any key or string, however deep."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_id(text) -> int | None:
    """A positive database id written in ASCII digits (at most 18, so it fits a bigint), else None.

    str.isdigit() also accepts "²" and other digits int() refuses, and an id past a bigint is no id at all.
    """
    text = str(text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0:
        return int(text)
    return None
