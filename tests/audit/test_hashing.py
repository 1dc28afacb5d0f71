"""The canonical encoding is a contract with offline verifiers: these tests pin it byte for byte."""

import hashlib
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
