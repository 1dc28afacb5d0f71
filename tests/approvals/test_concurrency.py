"""Deciding at the same moment on PostgreSQL: the request row lock keeps quorum, transitions and the chain exact."""

import pytest

from apps.accounts.models import Membership, Role
from apps.approvals.exceptions import ApprovalError
from apps.approvals.models import Decision, RequestState, StepState
from apps.audit.models import AuditEvent
from apps.audit.verification import verify_chain
from tests.concurrency import race
from tests.conftest import make_user, needs_postgres

from .conftest import MODEL_RISK_REVIEW, decide, reload, request_production

pytestmark = pytest.mark.usefixtures("transactional_db")


def events(request, action):
    return AuditEvent.objects.filter(request_id=request.pk, action=action).count()


@pytest.fixture
def pending(cast, envs, v1):
    needs_postgres()
    return request_production(cast, v1, envs)


def test_two_approvers_deciding_the_last_slot_together_complete_the_step_once(cast, pending):
    # vera becomes a third approver (bo is kept for the sign-off step, which only he can decide).
    Membership.objects.create(user=cast.vera, team=cast.team_a, role=Role.APPROVER)
    decide(cast.rita, pending)
    review = pending.steps.get(order=1)  # both pages show the review step; each form names it

    results = race([lambda user=user: decide(user, pending, step_id=review.pk) for user in (cast.sam, cast.vera)])

    decided = [r for r in results if isinstance(r, Decision)]
    refused = [r for r in results if not isinstance(r, Decision)]
    assert len(decided) == 1, results
    assert [(type(r), r.code) for r in refused] == [(ApprovalError, "step_closed")]
    request = reload(pending)
    review = request.steps.get(order=1)
    assert review.state == StepState.APPROVED
    assert review.decisions.count() == 2
    assert request.steps.get(order=2).state == StepState.OPEN
    assert events(request, "request.step_approved") == 1
    assert events(request, "request.step_opened") == 2  # the review at submission, the sign-off once
    assert events(request, "decision.recorded") == 2
    assert verify_chain().ok


def test_a_double_submit_from_many_threads_records_one_decision(cast, pending):
    results = race([lambda: decide(cast.rita, pending)] * 10)

    assert all(isinstance(r, Decision) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert len({r.decided_at for r in results}) == 1
    assert events(pending, "decision.recorded") == 1
    assert verify_chain().ok


def test_approve_and_reject_clicked_together_by_one_person_record_one_decision(cast, pending):
    results = race([lambda: decide(cast.rita, pending), lambda: decide(cast.rita, pending, "reject", comment="No.")])

    decided = [r for r in results if isinstance(r, Decision)]
    refused = [r for r in results if not isinstance(r, Decision)]
    assert len(decided) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], ApprovalError), results
    assert refused[0].code in {"already_decided", "request_closed"}  # request_closed when the rejection came first
    assert Decision.objects.filter(request=pending).count() == 1
    assert events(pending, "decision.recorded") == 1
    assert verify_chain().ok


def test_twenty_deciders_at_once_never_break_the_rules(cast, pending):
    # Repeats (double clicks), the requester, people with no say, and three eligible approvers, all at once.
    names = ["rita"] * 4 + ["sam"] * 4 + ["bo"] * 4 + ["dana"] * 2 + ["vera"] * 2 + ["audrey"] * 2 + ["alice"] * 2
    assert len(names) == 20

    results = race([lambda name=name: decide(getattr(cast, name), pending) for name in names])

    unexpected = [r for r in results if not isinstance(r, Decision | ApprovalError)]
    assert unexpected == []  # no IntegrityError, no deadlock, no lock timeout
    by_name = dict(zip(names, results, strict=True))
    for name in ("dana", "vera", "audrey", "alice"):
        assert isinstance(by_name[name], ApprovalError)
    request = reload(pending)
    live = list(Decision.objects.filter(request=request, voided_at__isnull=True))
    approvers = [d.username for d in live]
    assert len(approvers) == len(set(approvers))  # one decision per person
    assert set(approvers) <= {"rita", "sam", "bo"}
    review = request.steps.get(order=1)
    assert review.state == StepState.APPROVED
    assert review.decisions.count() == 2  # exactly the quorum, never more
    approved_steps = request.steps.filter(state=StepState.APPROVED).count()
    assert events(request, "request.step_approved") == approved_steps
    assert events(request, "decision.recorded") == len(live)
    assert events(request, "request.approved") == (1 if request.state == RequestState.APPROVED else 0)
    if request.state == RequestState.APPROVED:
        assert request.steps.get(order=2).decisions.get().username == "bo"
    assert all(d.meaning == f"Approved as {d.step.name}" for d in live)
    assert verify_chain().ok


def test_twenty_approvers_racing_for_a_quorum_of_two_leave_exactly_two_decisions(cast, pending):
    extra = [make_user(f"approver{n:02d}") for n in range(18)]
    for user in extra:
        Membership.objects.create(user=user, team=cast.team_a, role=Role.APPROVER)
    people = [cast.rita, cast.sam, *extra]
    review = pending.steps.get(order=1)

    results = race([lambda user=user: decide(user, pending, step_id=review.pk) for user in people])

    decided = [r for r in results if isinstance(r, Decision)]
    refused = [r for r in results if isinstance(r, ApprovalError)]
    assert len(decided) + len(refused) == 20, results
    assert len(decided) == 2
    assert {r.code for r in refused} == {"step_closed"}
    assert all(d.meaning == f"Approved as {MODEL_RISK_REVIEW}" for d in decided)
    request = reload(pending)
    assert request.steps.get(order=1).decisions.count() == 2
    assert events(request, "request.step_approved") == 1
    assert request.steps.get(order=2).state == StepState.OPEN
    assert verify_chain().ok
