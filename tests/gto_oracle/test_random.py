"""Random sequences of GTO operations — register, bump, assign, unassign, deregister, re-register, deprecate, new
commits, sometimes in the same second — synced by the portal at random points and compared with `gto show` after
each sync: disagreements are found rather than enumerated."""

import itertools

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.gitsync.models import Trigger

from .compare import assert_same, sync
from .story import Story, commit

pytestmark = pytest.mark.django_db

ARTIFACTS = st.sampled_from(["churn", "churn", "fraud"])
STAGES = st.sampled_from(["dev", "staging", "prod"])
PICK = st.integers(0, 3)
SYNC = "sync"
_counter = itertools.count()


def _gto(*args: str, pick: int | None = None) -> dict:
    step = {"step": "gto", "args": list(args)}
    return step | ({"artifact": args[1], "pick": pick} if pick is not None else {})


register = st.builds(
    lambda a, ref, bump: _gto("register", a, ref, *bump), ARTIFACTS, st.sampled_from(["HEAD", "HEAD", "HEAD~1"]),
    st.sampled_from([(), (), ("--bump-minor",), ("--bump-major",)]),
)  # fmt: skip
assign = st.one_of(
    st.builds(lambda a, s, p: _gto("assign", a, "--version", "{version}", "--stage", s, pick=p),
              ARTIFACTS, STAGES, PICK),
    st.builds(lambda a, s: _gto("assign", a, "HEAD", "--stage", s), ARTIFACTS, STAGES),  # registers HEAD if need be
)  # fmt: skip
unassign = st.builds(lambda a, s, p: _gto("deprecate", a, "{version}", s, pick=p), ARTIFACTS, STAGES, PICK)
deregister = st.builds(lambda a, p: _gto("deprecate", a, "{version}", pick=p), ARTIFACTS, PICK)
reregister = st.builds(
    lambda a, p: _gto("register", a, "{commit}", "--version", "{version}", "--simple", "false", pick=p), ARTIFACTS, PICK
)  # fmt: skip
deprecate = st.builds(lambda a: _gto("deprecate", a, "--simple", "false"), ARTIFACTS)
# Weighted by repetition: mostly what builds a registry up, enough of what tears it down.
operations = st.one_of(
    st.just(commit()), st.just(commit()), register, register, register, assign, assign, assign, unassign, deregister,
    deregister, reregister, deprecate, st.just(SYNC),
)  # fmt: skip
# Usually a second or more between two tags, sometimes none: GTO's same-second order counts too.
timed = st.tuples(operations, st.sampled_from([0, 1, 1, 1, 7]))


PREAMBLE = [commit(), {"step": "tick", "seconds": 1}, _gto("register", "churn"), _gto("register", "fraud")]


def chapters(planned) -> list[list[dict]]:
    """The steps between sync points, after a first commit where both artifacts have a version to work on; the last
    chapter is always synced."""
    result, current = [], list(PREAMBLE)
    for operation, seconds in planned:
        if operation == SYNC:
            result.append(current)
            current = []
        else:
            current += [{"step": "tick", "seconds": seconds}, operation]
    return [chapter for chapter in [*result, current] if chapter]


@settings(
    max_examples=20, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(planned=st.lists(timed, min_size=4, max_size=20))
def test_any_sequence_of_gto_operations_reads_as_gto_shows_it(oracle, cast, tmp_path, planned):
    point = transaction.savepoint()  # each example starts from an empty inventory
    try:
        story = Story(oracle, cast, tmp_path / f"example-{next(_counter)}")
        for steps in chapters(planned):
            answers = story.chapter(*steps)
        sync(story.repository, Trigger.MANUAL)  # a full re-read lands where the incremental syncs did
        assert_same(story.repository, answers, story.history)
    finally:
        transaction.savepoint_rollback(point)
