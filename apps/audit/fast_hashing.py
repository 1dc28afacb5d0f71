"""The chain verifier's hash of one event at C speed: orjson writes the canonical bytes, or says it cannot.

The definition is hashing.canonical_bytes(): json.dumps(normalize(value), sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False). orjson.dumps(value, option=OPT_SORT_KEYS) writes the same bytes, field by
field, except for some floats:

- strings: both escape exactly `"`, `\\` and U+0000..U+001F (\\b \\t \\n \\f \\r, else \\u00xx in lower case) and
  write every other character as UTF-8;
- object keys: both sort by code point (orjson compares the UTF-8 bytes, which orders the same way);
- integers: decimal digits. orjson reads an integer beyond 64 bits as a float, which the float rule catches;
- floats: both write the shortest digits that read back as the same double, but Python writes 1e-05 where orjson
  writes 0.00001 or 1e-5, and normalize() writes an integral float as an integer (2.0 becomes 2). So any output
  holding an exponent (e+ or e- then a digit), a number ending in .0, or one below 1e-4 (.0000) is not vouched
  for. The check reads the strings too: a label that happens to contain such text only takes the slower path.

tests/audit/test_fast_hashing.py compares both on every code point, on millions of floats and on random values.
Whatever orjson cannot vouch for takes hashing's standard-library path, so this only ever makes hashing faster.
"""

import hashlib
import re

import orjson

from . import hashing

_dumps, _loads, _SORTED = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
# Floats whose orjson text may differ from the definition's: integral (2.0), below 1e-4 (0.00001), or exponents.
_FLOAT_FORM = re.compile(rb"\.0(?:[,\]}]|000)").search
_EXPONENT = re.compile(rb"e[-+]\d").search


def canonical_or_none(value) -> bytes | None:
    """hashing.canonical_bytes(value) for a value read from JSON text, or None when orjson cannot vouch for it."""
    try:
        data = _dumps(value, option=_SORTED)
    except TypeError:  # an integer beyond 64 bits, a key that is not a string, ...
        return None
    return None if _FLOAT_FORM(data) or _EXPONENT(data) else data


def payload_digest(payload: dict, changes: str, context: str) -> str | None:
    """compute_hash() of an event's payload, its `changes` and `context` given as stored JSON text.

    `payload` holds every other hashed field, already as hashed (its values are set in place). None when the
    values are not what an append could have written (the reference path then judges the row).
    """
    try:
        payload["changes"], payload["context"] = _loads(changes), _loads(context)
        data = canonical_or_none(payload)
        if data is not None:
            return hashlib.sha256(data).hexdigest()
    except (ValueError, TypeError):  # e.g. NaN, or a number too large for a double: the standard library decides
        pass
    try:
        payload["changes"], payload["context"] = hashing.loads_normalized(changes), hashing.loads_normalized(context)
        return hashing.hash_normalized(payload)
    except (ValueError, TypeError, AttributeError):
        return None
