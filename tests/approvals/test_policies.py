"""The pure approval rules (apps.approvals.policies): no database, checked exhaustively against small oracles."""

import itertools
from types import SimpleNamespace

import pytest

from apps.approvals import policies
from apps.approvals.policies import CheckFacts

# --- choose_policy: the most specific match wins ---------------------------------------------------------------------

ENVIRONMENTS = (1, 2, 3)
TIERS = ("low", "medium", "high", "critical")
# Every shape a policy can take over two environments: any/named environment, any/one/two tiers.
SHAPES = [(env, tiers) for env in (None, 1, 2) for tiers in ([], ["high"], ["high", "critical"])]


def candidate(pk, environment_id, risk_tiers):
    return SimpleNamespace(pk=pk, environment_id=environment_id, risk_tiers=list(risk_tiers))


def matches(policy, environment_id, tier):
    return policy.environment_id in (None, environment_id) and (not policy.risk_tiers or tier in policy.risk_tiers)


def more_specific(a, b) -> bool:
    """The rule in plain words: a named environment beats 'every environment'; then fewer listed tiers win."""
    if (a.environment_id is None) != (b.environment_id is None):
        return a.environment_id is not None
    tiers_a, tiers_b = len(a.risk_tiers) or float("inf"), len(b.risk_tiers) or float("inf")
    return tiers_a < tiers_b


def test_choose_policy_agrees_with_the_rule_for_every_set_of_policies_environment_and_tier():
    checked = 0
    for size in range(len(SHAPES) + 1):
        for subset in itertools.combinations(range(len(SHAPES)), size):
            candidates = [candidate(pk=index + 1, environment_id=SHAPES[index][0], risk_tiers=SHAPES[index][1])
                          for index in subset]  # fmt: skip
            for environment_id, tier in itertools.product(ENVIRONMENTS, TIERS):
                chosen = policies.choose_policy(candidates, environment_id, tier)
                matching = [p for p in candidates if matches(p, environment_id, tier)]
                checked += 1
                if not matching:
                    assert chosen is None
                    continue
                assert chosen in matching
                assert not any(more_specific(other, chosen) for other in matching)
                ties = [p for p in matching if not more_specific(chosen, p)]
                assert chosen.pk == min(p.pk for p in ties)  # equally specific: the lowest id
    assert checked == 2**9 * 12


@pytest.mark.parametrize(
    ("shapes", "environment_id", "tier", "expected"),
    [
        ([(None, [])], 3, "low", 1),  # the catch-all governs everything
        ([(None, []), (3, [])], 3, "low", 2),  # a named environment beats every environment
        ([(3, []), (None, ["low"])], 3, "low", 1),  # ...even when the other names the tier
        ([(3, ["low", "high"]), (3, ["low"])], 3, "low", 2),  # fewer tiers beat more
        ([(3, []), (3, ["low", "high", "medium", "critical"])], 3, "low", 2),  # listing all four beats "every tier"
        ([(3, ["high"]), (3, ["high"])], 3, "high", 1),  # a tie goes to the lowest id
        ([(3, ["high"])], 3, "low", None),  # wrong tier
        ([(2, [])], 3, "low", None),  # wrong environment
        ([], 3, "low", None),
    ],
)
def test_choose_policy_examples(shapes, environment_id, tier, expected):
    candidates = [candidate(pk, env, tiers) for pk, (env, tiers) in enumerate(shapes, start=1)]

    chosen = policies.choose_policy(candidates, environment_id, tier)

    assert (chosen.pk if chosen else None) == expected


# --- evaluate_checks --------------------------------------------------------------------------------------------------

GOOD = CheckFacts(
    has_model_card=True, digest="a" * 64, metrics={"auc": 0.81}, previous_environment="staging",
    approved_for_previous=True, validation_due="2030-01-01", validation_overdue=False,
)  # fmt: skip
ALL_CHECKS = {
    "require_model_card": True, "require_digest": True, "require_previous_environment": True,
    "require_current_validation": True, "metric_thresholds": [{"metric": "auc", "op": ">=", "value": 0.8}],
}  # fmt: skip
FLAG_KEYS = {
    "require_model_card": "model_card", "require_digest": "digest", "metric_thresholds": "metric:auc",
    "require_previous_environment": "promotion", "require_current_validation": "validation",
}  # fmt: skip


def _facts(**changes) -> CheckFacts:
    return CheckFacts(**(GOOD.__dict__ | changes))


def test_a_policy_without_checks_runs_none():
    assert policies.evaluate_checks({}, _facts(has_model_card=False, digest="")) == []
    assert policies.evaluate_checks({"name": None, "steps": []}, GOOD) == []


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=len(FLAG_KEYS))))
def test_each_check_runs_exactly_when_the_policy_asks_for_it_in_a_fixed_order(flags):
    policy = {key: (ALL_CHECKS[key] if on else ([] if key == "metric_thresholds" else False))
              for key, on in zip(FLAG_KEYS, flags, strict=True)}  # fmt: skip

    results = policies.evaluate_checks(policy, GOOD)

    assert [r.key for r in results] == [FLAG_KEYS[key] for key, on in zip(FLAG_KEYS, flags, strict=True) if on]
    assert all(r.passed for r in results)


@pytest.mark.parametrize(
    ("facts", "key", "detail"),
    [
        (_facts(has_model_card=False), "model_card", "The version has no model card."),
        (_facts(digest=""), "digest", "The version has no artifact SHA-256 digest."),
        (_facts(metrics={"auc": 0.79}), "metric:auc", "auc is 0.79"),
        (_facts(metrics={}), "metric:auc", "The version reports no auc."),
        (_facts(metrics={"auc": "0.9"}), "metric:auc", "The version reports no auc."),
        (_facts(metrics={"auc": True}), "metric:auc", "The version reports no auc."),
        (_facts(approved_for_previous=False), "promotion", "Not yet approved for staging: promote through it first."),
        (_facts(validation_due="2020-01-01", validation_overdue=True), "validation",
         "Next validation due 2020-01-01: overdue."),
    ],
)  # fmt: skip
def test_a_failing_check_fails_alone_and_says_why(facts, key, detail):
    results = {r.key: r for r in policies.evaluate_checks(ALL_CHECKS, facts)}

    assert [k for k, r in results.items() if not r.passed] == [key]
    assert results[key].detail == detail


@pytest.mark.parametrize(
    ("facts", "key", "detail"),
    [
        (GOOD, "model_card", "The version has a model card."),
        (GOOD, "digest", "sha256:" + "a" * 64),
        (GOOD, "metric:auc", "auc is 0.81"),
        (_facts(metrics={"auc": 0.8}), "metric:auc", "auc is 0.8"),  # the threshold itself passes (>=)
        (GOOD, "promotion", "Approved for staging."),
        (_facts(previous_environment=None, approved_for_previous=False), "promotion", "This is the first environment."),
        (GOOD, "validation", "Next validation due 2030-01-01."),
        (_facts(validation_due=None), "validation", "No periodic validation is scheduled."),
    ],
)  # fmt: skip
def test_a_passing_check_says_what_it_saw(facts, key, detail):
    results = {r.key: r for r in policies.evaluate_checks(ALL_CHECKS, facts)}

    assert results[key].passed
    assert results[key].detail == detail


@pytest.mark.parametrize(
    ("op", "threshold", "value", "passed"),
    [
        (">=", 0.8, 0.8, True), (">=", 0.8, 0.79, False), (">", 0.8, 0.8, False), (">", 0.8, 0.81, True),
        ("<=", 0.1, 0.1, True), ("<=", 0.1, 0.11, False), ("<", 0.1, 0.1, False), ("<", 0.1, 0.09, True),
        ("==", 3, 3, True), ("==", 3, 3.5, False),
    ],
)  # fmt: skip
def test_metric_thresholds_compare_with_their_operator(op, threshold, value, passed):
    policy = {"metric_thresholds": [{"metric": "m", "op": op, "value": threshold}]}

    (result,) = policies.evaluate_checks(policy, _facts(metrics={"m": value}))

    assert (result.label, result.passed) == (f"m {op} {threshold}", passed)


MALFORMED = 'Each threshold is {"metric": name, "op": one of >= > <= < ==, "value": number}.'


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"metric": "auc", "op": ">=", "value": 0.8}, None),
        ({"metric": "auc", "op": ">=", "value": 1}, None),
        ({"metric": "auc", "op": ">="}, MALFORMED),
        ("auc >= 0.8", MALFORMED),
        ({"metric": "", "op": ">=", "value": 0.8}, "A threshold needs a metric name."),
        ({"metric": "auc", "op": "=>", "value": 0.8}, "Unknown operator '=>' for auc: use one of >= > <= < ==."),
        ({"metric": "auc", "op": ">=", "value": "0.8"}, "The threshold for auc must be a number."),
        ({"metric": "auc", "op": ">=", "value": True}, "The threshold for auc must be a number."),
    ],
)  # fmt: skip
def test_threshold_rules_are_validated_with_a_plain_message(rule, message):
    assert policies.threshold_error(rule) == message


# --- who may decide ---------------------------------------------------------------------------------------------------

TEAM, OTHER = 10, 20
ROLE_STEP = {"approver_kind": "role", "role": "approver", "team_id": None, "user_ids": []}
TEAM_STEP = {"approver_kind": "team", "role": "", "team_id": OTHER, "team_name": "Fraud", "user_ids": []}
USERS_STEP = {"approver_kind": "users", "role": "", "team_id": None, "user_ids": [7]}


@pytest.mark.parametrize(
    ("step", "user_id", "roles", "reason"),
    [
        (ROLE_STEP, 1, {TEAM: {"approver"}}, "holds the approver role in the model's team"),
        (ROLE_STEP, 1, {TEAM: {"admin"}}, None),  # a role step asks for that very role
        (ROLE_STEP, 1, {OTHER: {"approver"}}, None),  # in the model's own team
        (ROLE_STEP, 1, {}, None),
        (TEAM_STEP, 1, {OTHER: {"approver"}}, "approver in Fraud"),
        (TEAM_STEP, 1, {OTHER: {"admin"}}, "approver in Fraud"),
        (TEAM_STEP, 1, {OTHER: {"viewer", "contributor"}}, None),
        (TEAM_STEP, 1, {TEAM: {"approver"}}, None),
        (USERS_STEP, 7, {}, "named approver of this step"),
        (USERS_STEP, 8, {TEAM: {"approver", "admin"}}, None),
    ],
)
def test_eligibility_names_the_reason_or_refuses(step, user_id, roles, reason):
    assert policies.eligibility(step, user_id, roles, TEAM) == reason


REQUESTER = 1


@pytest.mark.parametrize(
    ("user_id", "eligible", "decided", "step_order", "message"),
    [
        (2, "named approver of this step", {}, 1, None),
        (2, "named approver of this step", {3: 1}, 1, None),  # others' decisions do not matter
        (REQUESTER, "holds the approver role in the model's team", {}, 1,
         "You requested this deployment, so you cannot approve it. You may withdraw it instead."),
        (2, "named approver of this step", {2: 1}, 2,
         "You already decided step 1 of this request; one person decides at most one step."),
        (2, "named approver of this step", {2: 1}, 1,
         "You already decided this step; a decision cannot be changed."),
        (2, None, {}, 1, "You are not an eligible approver for the open step."),
    ],
)  # fmt: skip
def test_separation_of_duties(user_id, eligible, decided, step_order, message):
    refusal = policies.decision_refusal(
        user_id=user_id, requester_id=REQUESTER, eligible_reason=eligible, decided_step_orders=decided,
        step_order=step_order,
    )  # fmt: skip

    assert refusal == message


# --- can_staff: every step its quorum of distinct people, no one in two steps -----------------------------------------


def staffable(slots, excluded=frozenset()) -> bool:
    """Brute force: try every way to pick `quorum` unused people for each step in turn."""

    def fill(index, used):
        if index == len(slots):
            return True
        quorum, eligible = slots[index]
        pool = sorted(eligible - excluded - used)
        return any(fill(index + 1, used | set(pick)) for pick in itertools.combinations(pool, quorum))

    return fill(0, set())


def subsets(people):
    return [set(c) for size in range(len(people) + 1) for c in itertools.combinations(people, size)]


def test_can_staff_agrees_with_brute_force_for_two_steps_over_four_people():
    people = (1, 2, 3, 4)
    for q1, e1, q2, e2 in itertools.product((1, 2, 3), subsets(people), (1, 2, 3), subsets(people)):
        for excluded in (frozenset(), frozenset({1})):
            slots = [(q1, e1), (q2, e2)]
            result = policies.can_staff(slots, excluded=excluded)
            assert (result is None) == staffable(slots, excluded), (slots, excluded)
            assert result in (None, 0, 1)


def test_can_staff_agrees_with_brute_force_for_three_steps_over_three_people():
    people = (1, 2, 3)
    for q1, e1, q2, e2, q3, e3 in itertools.product((1, 2), subsets(people), (1, 2), subsets(people), (1, 2),
                                                    subsets(people)):  # fmt: skip
        slots = [(q1, e1), (q2, e2), (q3, e3)]
        assert (policies.can_staff(slots) is None) == staffable(slots), slots


@pytest.mark.parametrize(
    ("slots", "excluded", "expected"),
    [
        # The production policy in team A: rita(2), sam(3), bo(4) approve; bo is also the named business owner.
        ([(2, {2, 3, 4}), (1, {4})], set(), None),  # rita and sam review, bo signs off
        ([(3, {2, 3, 4}), (1, {4})], set(), 1),  # bo cannot be in both: the sign-off cannot be staffed
        ([(2, {2, 3, 4}), (1, {4})], {3}, 1),  # sam requested: rita and bo review, nobody left to sign off
        ([(1, {2}), (1, {2})], set(), 1),  # one person, two steps
        ([(1, {2}), (1, {2, 3})], set(), None),
        ([(2, {1, 2})], {1}, 0),  # the requester does not count toward a quorum
        ([(1, set())], set(), 0),
        ([], set(), None),
    ],
)
def test_can_staff_examples_name_the_step_that_cannot_be_staffed(slots, excluded, expected):
    assert policies.can_staff(slots, excluded=excluded) == expected


@pytest.mark.parametrize(
    ("approvals", "quorum", "complete"), [(0, 1, False), (1, 1, True), (1, 2, False), (3, 2, True)]
)
def test_a_step_is_complete_at_its_quorum(approvals, quorum, complete):
    assert policies.step_complete(approvals, quorum) is complete
