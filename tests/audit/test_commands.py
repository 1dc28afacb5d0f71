"""Management commands that touch the trail: flush must not erase it."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from apps.audit.models import AuditEvent

from .helpers import append


def test_flush_is_refused_when_audit_flush_is_not_allowed(db, settings):
    settings.AUDIT_ALLOW_FLUSH = False
    append(2)
    with pytest.raises(CommandError, match="append-only"):
        call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 2
    # The refusal happens before the triggers are touched: the table still refuses changes.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
