"""Real transactions (TransactionTestCase-style): record() needs one, and rolls back with it."""

import pytest
from django.db import transaction

from apps.accounts import services as accounts
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.hashing import GENESIS_HASH
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import Target, record
from apps.audit.verification import verify_chain
from tests.conftest import make_user

from .helpers import append


def head():
    return ChainHead.objects.filter(pk=1).values_list("sequence", "hash").first() or (0, GENESIS_HASH)


def test_record_refuses_to_run_outside_a_transaction(transactional_db):
    assert not transaction.get_connection().in_atomic_block
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        record(action=Action.MODEL_UPDATED, actor=Actor.system("test"), target=Target("test.thing", 1))
    assert not AuditEvent.objects.exists()


def test_a_rolled_back_transaction_leaves_no_event_and_the_chain_head_unchanged(transactional_db):
    append(3)
    before = head()
    with pytest.raises(LookupError), transaction.atomic():
        record(action=Action.MODEL_UPDATED, actor=Actor.system("test"), target=Target("test.thing", 9))
        raise LookupError("the change failed after its event was recorded")
    assert AuditEvent.objects.count() == 3
    assert head() == before
    (after,) = append(1)
    assert (after.sequence, after.prev_hash) == (before[0] + 1, before[1])
    assert verify_chain().ok


def test_services_open_their_own_transaction(transactional_db):
    dana = make_user("dana")
    assert not transaction.get_connection().in_atomic_block
    accounts.login_succeeded(user=dana)  # record() would raise RuntimeError without the service's own atomic block
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_label, event.target_id) == ("user.logged_in", "dana", str(dana.pk))
    assert head() == (event.sequence, event.hash)
