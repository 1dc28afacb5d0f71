from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections

from apps.audit import triggers


class Command(flush.Command):
    """Django's flush, refusing to erase the append-only audit trail outside the test suite.

    When allowed, the triggers of both audit tables (events and signed checkpoints) are
    dropped for the flush and installed again afterwards, whatever happens.
    """

    def handle(self, **options):
        if not settings.AUDIT_ALLOW_FLUSH:
            raise CommandError("The audit trail is append-only: flush is disabled (AUDIT_ALLOW_FLUSH is off).")
        connection = connections[options["database"]]
        triggers.drop(connection, tables=triggers.TABLES)
        try:
            super().handle(**options)
        finally:
            triggers.install(connection, tables=triggers.TABLES)
