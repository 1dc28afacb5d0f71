"""The audit table refuses every change but INSERT: in the model, and in the database for raw SQL."""

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AuditEvent
from tests.conftest import needs_postgres

from .helpers import append, triggers_bypassed


@pytest.fixture
def event(db):
    return append(3)[1]


def assert_unchanged(event):
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.sequence, stored.actor_label, stored.hash) == (event.sequence, event.actor_label, event.hash)
    assert AuditEvent.objects.count() == 3


def test_saving_an_existing_event_is_refused(event):
    event.actor_label = "mallory"
    with pytest.raises(RuntimeError, match="append-only"):
        event.save()
    with pytest.raises(RuntimeError, match="append-only"):
        event.save(update_fields=["actor_label"])
    event.actor_label = "test"
    assert_unchanged(event)


def test_deleting_an_event_is_refused(event):
    with pytest.raises(RuntimeError, match="append-only"):
        event.delete()
    assert_unchanged(event)


def test_queryset_update_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="mallory")
    assert_unchanged(event)


def test_queryset_delete_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert_unchanged(event)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET actor_label = 'mallory' WHERE sequence = 2",
        "UPDATE audit_auditevent SET sequence = sequence + 100",
        "DELETE FROM audit_auditevent WHERE sequence = 2",
        "DELETE FROM audit_auditevent",
    ],
)
def test_raw_sql_update_and_delete_are_refused(event, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert_unchanged(event)


def test_truncate_is_refused_on_postgresql(event):
    needs_postgres()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
    assert_unchanged(event)


def test_triggers_are_back_after_a_bypass(event):
    with triggers_bypassed():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="edited")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="mallory")
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "edited"
