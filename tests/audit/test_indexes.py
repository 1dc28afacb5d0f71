"""What each audit append writes besides its row: on PostgreSQL the hash column keeps one index, the unique one."""

import pytest
from django.db import connection

from apps.audit.models import AuditEvent

from .helpers import append

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Django makes the pattern index only on PostgreSQL"
)


def hash_indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s ORDER BY indexname",
            [AuditEvent._meta.db_table, "%(hash%"],
        )
        return [row[0] for row in cursor.fetchall()]


def test_the_hash_has_its_unique_index_and_no_pattern_copy(db):
    [index] = hash_indexes()

    assert index.startswith("CREATE UNIQUE INDEX") and "varchar_pattern_ops" not in index


def test_an_event_is_still_found_by_its_hash_through_that_index(db):
    append(3)
    event = AuditEvent.objects.order_by("sequence")[1]
    found = AuditEvent.objects.filter(hash=event.hash)

    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a 3-row table: make the planner show which index serves it
        plan = found.explain()
        cursor.execute("RESET enable_seqscan")

    assert list(found.values_list("sequence", flat=True)) == [event.sequence]
    assert "audit_auditevent_hash" in plan and "_like" not in plan
