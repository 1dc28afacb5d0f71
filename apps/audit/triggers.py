"""Database triggers that make the audit tables append-only, on PostgreSQL and SQLite.

Both the event table and the signed checkpoint table refuse UPDATE, DELETE (and, on
PostgreSQL, TRUNCATE). The ORM refuses too (save/delete on the models), but only the
database stops raw SQL. A superuser can still disable triggers; the hash chain and the
signed checkpoints are what detect that.
"""

TABLE = "audit_auditevent"
CHECKPOINT_TABLE = "audit_auditcheckpoint"
TABLES = (TABLE, CHECKPOINT_TABLE)
MESSAGE = "audit events are append-only"
MESSAGES = {TABLE: MESSAGE, CHECKPOINT_TABLE: "audit checkpoints are append-only"}
# SQLite trigger names are per database, PostgreSQL's per table; the event table keeps its original names.
_SQLITE_NAMES = {TABLE: "audit", CHECKPOINT_TABLE: "audit_checkpoint"}

_POSTGRES_FUNCTION = f"""CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '%: % refused on %', COALESCE(TG_ARGV[0], '{MESSAGE}'), TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql"""


def _postgres_install(table: str) -> list[str]:
    message = MESSAGES[table]
    return [
        f"""CREATE TRIGGER audit_refuse_update_delete BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('{message}')""",
        f"""CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change('{message}')""",
    ]


def _postgres_drop(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS audit_refuse_update_delete ON {table}",
        f"DROP TRIGGER IF EXISTS audit_refuse_truncate ON {table}",
    ]


def _sqlite_install(table: str) -> list[str]:
    name, message = _SQLITE_NAMES[table], MESSAGES[table]
    return [
        f"CREATE TRIGGER IF NOT EXISTS {name}_refuse_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}: UPDATE refused on {table}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {name}_refuse_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}: DELETE refused on {table}'); END",
    ]


def _sqlite_drop(table: str) -> list[str]:
    name = _SQLITE_NAMES[table]
    return [f"DROP TRIGGER IF EXISTS {name}_refuse_update", f"DROP TRIGGER IF EXISTS {name}_refuse_delete"]


def _statements(vendor: str, install: bool, tables) -> list[str]:
    if vendor == "postgresql":
        if not install:
            return [sql for table in tables for sql in _postgres_drop(table)]
        # CREATE TRIGGER has no IF NOT EXISTS on PostgreSQL 15: drop first, so installing twice is harmless.
        return [_POSTGRES_FUNCTION] + [sql for t in tables for sql in (*_postgres_drop(t), *_postgres_install(t))]
    if vendor == "sqlite":
        build = _sqlite_install if install else _sqlite_drop
        return [sql for table in tables for sql in build(table)]
    raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def install(connection, tables=TABLES) -> None:
    """Install the triggers on `tables` (default: both audit tables); installing twice is harmless."""
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, True, tables):
            cursor.execute(sql)


def drop(connection, tables=TABLES) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, False, tables):
            cursor.execute(sql)
