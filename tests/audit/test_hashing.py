"""The canonical encoding is a contract with offline verifiers: these tests pin it byte for byte."""

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from apps.audit import hashing

PAYLOAD = {
    "sequence": 7,
    "timestamp": "2024-03-01T12:00:00.000001Z",
    "actor_id": None,
    "actor_label": "git-sync",
    "actor_kind": "system",
    "action": "version.created",
    "target_type": "inventory.modelversion",
    "target_id": "3",
    "target_label": "Scoring 1.0",
    "scope": {"team": 1, "model": 2, "version": 3},
    "changes": {"auc": 0.81, "epochs": 10.0, "note": "Zürich ✓"},
    "context": {"request_id": "abc12345", "source": "task"},
    "prev_hash": "0" * 64,
}
# Written out by hand, not produced by the code under test: sorted keys at every level, no spaces,
# raw UTF-8 (no \u escapes), 10.0 written as 10.
CANONICAL = (
    '{"action":"version.created","actor_id":null,"actor_kind":"system","actor_label":"git-sync",'
    '"changes":{"auc":0.81,"epochs":10,"note":"Zürich ✓"},"context":{"request_id":"abc12345","source":"task"},'
    '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"scope":{"model":2,"team":1,"version":3},"sequence":7,"target_id":"3","target_label":"Scoring 1.0",'
    '"target_type":"inventory.modelversion","timestamp":"2024-03-01T12:00:00.000001Z"}'
).encode()


def test_canonical_form_is_sorted_compact_utf8():
    assert hashing.canonical_bytes(PAYLOAD) == CANONICAL


def test_hash_is_sha256_of_the_canonical_form():
    assert hashing.compute_hash(PAYLOAD) == hashlib.sha256(CANONICAL).hexdigest()


def test_hash_ignores_keys_outside_the_hashed_fields():
    assert hashing.compute_hash(PAYLOAD | {"hash": "x", "id": 12}) == hashing.compute_hash(PAYLOAD)


def test_hash_changes_when_any_hashed_field_changes():
    base = hashing.compute_hash(PAYLOAD)
    for field in hashing.HASHED_FIELDS:
        altered = PAYLOAD | {field: "tampered"}
        assert hashing.compute_hash(altered) != base, field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, 2),
        (1e16, 10_000_000_000_000_000),
        (-0.0, 0),
        (0.5, 0.5),
        (True, True),
        (None, None),
        ((1, 2.0), [1, 2]),
        ({1: {"x": 3.0}}, {"1": {"x": 3}}),
    ],
)
def test_integral_floats_become_ints_and_other_values_keep_their_type(value, expected):
    result = hashing.normalize(value)
    assert result == expected
    assert type(result) is type(expected)


def test_integral_float_and_int_hash_alike():
    assert hashing.canonical_bytes({"x": 2.0, "y": [1e16]}) == b'{"x":2,"y":[10000000000000000]}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(ValueError, match="NaN or infinite"):
        hashing.canonical_bytes({"changes": {"nested": [value]}})


@pytest.mark.parametrize("value", [Decimal("1.5"), {1, 2}, b"bytes", datetime(2024, 1, 1, tzinfo=UTC)])
def test_values_that_are_not_json_are_refused(value):
    with pytest.raises(TypeError, match="not a JSON value"):
        hashing.normalize({"x": value})


@pytest.mark.parametrize("missing", hashing.HASHED_FIELDS)
def test_compute_hash_refuses_a_payload_missing_a_field(missing):
    payload = {key: value for key, value in PAYLOAD.items() if key != missing}
    with pytest.raises(ValueError, match=f"payload lacks \\['{missing}'\\]"):
        hashing.compute_hash(payload)


def test_timestamps_are_written_in_utc_with_microseconds_and_z():
    paris = timezone(timedelta(hours=2))
    assert hashing.format_timestamp(datetime(2024, 6, 1, 14, 30, 5, tzinfo=paris)) == "2024-06-01T12:30:05.000000Z"
    assert hashing.format_timestamp(datetime(2024, 6, 1, 12, 0, 0, 42, tzinfo=UTC)) == "2024-06-01T12:00:00.000042Z"


# The fast path the verifier runs must give the same bytes as the definition above, for every value.

TRICKY_FLOATS = (1e16, 2.0, 0.1, -0.0, 1.5, 1e-07, 5e-324, 1.7976931348623157e308, -2.5e-300, 123456789.125, 1e22)
TRICKY_STRINGS = ("", "Zürich ✓", "東京", 'a\nb\t"q"\\', "\x00\x1f", "e\u0301", "😀", "\u2028", "</script>")


def random_value(rng, depth=0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, -1, 7, 2**53 + 1, -(2**70), rng.randint(-(10**12), 10**12)))
    if kind == 3:
        return rng.choice(TRICKY_FLOATS) if rng.random() < 0.5 else rng.uniform(-1e6, 1e6) * rng.choice((1, 1e-9))
    if kind in (4, 5):
        letters = (chr(rng.choice((rng.randint(32, 126), rng.randint(160, 0x2FFF)))) for _ in range(rng.randrange(6)))
        return rng.choice(TRICKY_STRINGS) + "".join(letters)
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ("a", "B", "Z", "é", "ä", "aa", "a b", "10", "9", "", "東", "😀")
    return {rng.choice(keys) + str(rng.randrange(3)): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def random_payload(rng) -> dict:
    return {
        "sequence": rng.randint(1, 10**9), "timestamp": "2024-03-01T12:00:00.000001Z",
        "actor_id": rng.choice((None, rng.randint(1, 10**6))), "actor_label": random_value(rng, 9) or "x",
        "actor_kind": "user", "action": "model.updated", "target_type": "inventory.model", "target_id": "3",
        "target_label": rng.choice(TRICKY_STRINGS), "scope": {"team": 1, "model": rng.randint(1, 99)},
        "changes": {"x": random_value(rng), "y": [random_value(rng), random_value(rng)]},
        "context": {"request_id": "abc", "client_ip": None, "source": "web", "n": random_value(rng)},
        "prev_hash": "0" * 64,
    }  # fmt: skip


def stored_texts(value) -> list[str]:
    """The JSON text forms a database hands back: Django's for SQLite, jsonb-like, compact, padded."""
    return [
        json.dumps(value),
        json.dumps(value, ensure_ascii=False, separators=(", ", ": ")),
        json.dumps(value, sort_keys=True, separators=(",", ":")),
        f" \n{json.dumps(value, indent=1)}\t",
    ]


def test_fast_encoding_matches_the_reference_on_random_values():
    rng = random.Random(20240301)
    for _ in range(3000):
        value = random_value(rng)
        reference = hashing.canonical_bytes({"v": value})
        assert hashing.encode_normalized({"v": hashing.normalize(value)}).encode() == reference
        for text in stored_texts(value):
            assert hashing.encode_normalized({"v": hashing.loads_normalized(text)}).encode() == reference, text


def test_fast_decoding_normalizes_exactly_like_normalize():
    rng = random.Random(7)
    for _ in range(2000):
        value = random_value(rng)
        fast, reference = hashing.loads_normalized(json.dumps(value)), hashing.normalize(json.loads(json.dumps(value)))
        assert repr(fast) == repr(reference)  # same values and same types (2 vs 2.0), all the way down


def test_fast_hash_matches_compute_hash_on_random_payloads():
    rng = random.Random(99)
    for _ in range(2000):
        payload = random_payload(rng)
        stored = {key: hashing.loads_normalized(json.dumps(value)) for key, value in payload.items()}
        assert hashing.hash_normalized(stored) == hashing.compute_hash(payload)


@pytest.mark.parametrize("text", ["NaN", "[1, Infinity]", '{"x": -Infinity}', "1e400", "[-1e999]"])
def test_fast_decoding_refuses_nan_and_infinity_like_normalize(text):
    with pytest.raises(ValueError, match="NaN or infinite"):
        hashing.normalize(json.loads(text))
    with pytest.raises(ValueError, match="NaN or infinite"):
        hashing.loads_normalized(text)


@pytest.mark.parametrize("text", ["", " ", "{", '{"a": 1} x', "[1,]", "'a'", '{"a" 1}'])
def test_fast_decoding_refuses_what_json_loads_refuses(text):
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        hashing.loads_normalized(text)


def test_fast_timestamp_matches_format_timestamp_for_naive_utc_times():
    rng = random.Random(3)
    moments = [datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59, 999999), datetime(1000, 1, 1)]
    moments += [datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(2024, 2, 29, 0, 0, 0, 0)]
    for _ in range(3000):
        day = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28))
        microseconds = rng.choice((0, rng.randint(0, 10**6 - 1)))
        moments.append(day + timedelta(seconds=rng.randint(0, 86399), microseconds=microseconds))
    for moment in moments:
        assert hashing.format_timestamp_utc(moment) == hashing.format_timestamp(moment.replace(tzinfo=UTC)), moment
    paris = timezone(timedelta(hours=2))
    aware = datetime(2024, 6, 1, 14, 30, 5, 7, tzinfo=paris)
    assert hashing.format_timestamp_utc(aware) == hashing.format_timestamp(aware) == "2024-06-01T12:30:05.000007Z"
