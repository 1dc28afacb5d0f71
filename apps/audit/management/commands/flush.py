from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.core.management.sql import emit_post_migrate_signal
from django.db import DatabaseError, connections, transaction

from apps.audit import triggers


class Command(flush.Command):
    """Django's flush, refusing to erase the append-only audit trail outside the test suite.

    When allowed, the triggers of both audit tables (events and signed checkpoints) are
    dropped for the flush and installed again afterwards, whatever happens.

    On PostgreSQL, when sequences are kept (what a transactional test's teardown asks), the tables are emptied with
    DELETE under `session_replication_role = replica` (no trigger, no foreign-key check, as in a restore) instead of
    TRUNCATE: TRUNCATE gives each of the 51 tables and their indexes new files, 0.65 s, where deleting a test's few
    rows takes 20 ms, and the suite flushes after every transactional test. Without the superuser that setting
    needs, it is Django's TRUNCATE.
    """

    def handle(self, **options):
        if not settings.AUDIT_ALLOW_FLUSH:
            raise CommandError("The audit trail is append-only: flush is disabled (AUDIT_ALLOW_FLUSH is off).")
        connection = connections[options["database"]]
        if connection.vendor == "postgresql" and not options.get("reset_sequences", True) and _delete_all(connection):
            if not options.get("inhibit_post_migrate", False):
                emit_post_migrate_signal(options["verbosity"], options["interactive"], options["database"])
            return
        triggers.drop(connection, tables=triggers.TABLES)
        try:
            super().handle(**options)
        finally:
            triggers.install(connection, tables=triggers.TABLES)


def _delete_all(connection) -> bool:
    """Every Django table emptied with DELETE, triggers and foreign keys aside; False if the role may not do that."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608 - Django's own table names
    except DatabaseError:
        return False
    return True
