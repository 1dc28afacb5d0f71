"""The verifier's C-speed hash (apps.audit.fast_hashing) gives the definition's bytes, or none at all.

orjson writes JSON with its own code; these tests hold it to hashing.canonical_bytes() where it vouches, and check
that it does not vouch where the two could differ. A None only sends the event to the standard-library path.
"""

import json
import random
import struct

import pytest

from apps.audit import fast_hashing, hashing

from .test_hashing import TRICKY_FLOATS, random_payload, random_value, stored_texts


def assert_same_or_refused(value) -> bool:
    """The fast bytes of a value read from JSON are the definition's bytes, or None; True when they vouched."""
    fast = fast_hashing.canonical_or_none(value)
    assert fast is None or fast == hashing.canonical_bytes(value), value
    return fast is not None


def test_every_character_is_written_as_the_definition_writes_it():
    characters = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]  # no lone surrogates in JSON
    assert fast_hashing.canonical_or_none(characters) == hashing.canonical_bytes(characters)
    assert fast_hashing.canonical_or_none({c: "x" + c for c in characters}) == hashing.canonical_bytes(
        {c: "x" + c for c in characters}
    )  # and keys sort by code point, as sort_keys does


def test_integers_of_every_size_are_written_alike_or_refused():
    for number in (0, -1, 7, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**30):
        assert assert_same_or_refused({"n": number}) == (-(2**63) <= number < 2**64)


@pytest.mark.parametrize(
    "value",
    [2.0, -0.0, 1e16, 1e22, 1e-05, 1e-07, 0.00009999, 5e-324, 1.7976931348623157e308, 1.5e-300, 9007199254740993.0],
)
def test_floats_the_libraries_write_differently_are_refused(value):
    # The definition writes these as integers (2.0 -> 2) or with an exponent (1e-05); orjson would not.
    assert fast_hashing.canonical_or_none({"x": [value]}) is None


@pytest.mark.parametrize("value", [0.1, 0.5, -2.5, 0.0001, 123456789.125, 0.30000000000000004, 1234567890123456.8])
def test_ordinary_floats_are_vouched_for_with_the_definitions_digits(value):
    assert assert_same_or_refused({"x": [value, {"y": value}]})


def test_floats_from_every_range_are_written_alike_or_refused():
    rng = random.Random(1)
    vouched = 0
    for n in range(60_000):
        if n % 3 == 0:  # any double at all
            value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if value != value or value in (float("inf"), float("-inf")):
                continue
        elif n % 3 == 1:  # where both libraries write plain digits
            value = rng.uniform(1e-4, 1.0) * 10.0 ** rng.randint(0, 16) * rng.choice((1, -1))
        else:  # short decimals, as people type them
            value = rng.randint(1, 10 ** rng.randint(1, 17)) / 10 ** rng.randint(0, 20)
        vouched += assert_same_or_refused({"x": [value]})
    assert vouched > 30_000  # the fast path does take the common floats


def test_random_values_read_from_stored_json_are_written_alike_or_refused():
    rng = random.Random(5)
    for _ in range(3000):
        value = random_value(rng)
        for text in stored_texts(value):
            fast = fast_hashing.canonical_or_none({"v": fast_hashing._loads(text)})
            assert fast is None or fast == hashing.canonical_bytes({"v": json.loads(text)}), text


def test_payload_digest_is_compute_hash_for_random_payloads():
    rng = random.Random(11)
    for _ in range(2000):
        payload = random_payload(rng)
        for text in stored_texts(payload["changes"])[:2]:
            # The other fields as the database hands them over: already what is hashed.
            scalars = hashing.normalize(
                {key: value for key, value in payload.items() if key not in ("changes", "context")}
            )
            digest = fast_hashing.payload_digest(scalars, text, json.dumps(payload["context"]))
            assert digest == hashing.compute_hash(payload | {"changes": json.loads(text)})


@pytest.mark.parametrize("changes", ['{"x": NaN}', '{"x": 1e400}', "{", '{"x": Infinity}', "[1,]"])
def test_payload_digest_of_what_no_append_writes_is_none(changes):
    assert fast_hashing.payload_digest(random_payload(random.Random(1)), changes, "{}") is None


def test_tricky_floats_in_stored_json_hash_as_the_definition_hashes_them():
    payload = hashing.normalize(random_payload(random.Random(2)))
    for value in TRICKY_FLOATS:
        text = json.dumps({"x": [value, -value]})
        digest = fast_hashing.payload_digest(dict(payload), text, "{}")
        assert digest == hashing.compute_hash(payload | {"changes": json.loads(text), "context": {}}), value
