"""Database triggers that make the audit table append-only, on PostgreSQL and SQLite.

The ORM refuses too (AuditEvent.save/delete), but only the database stops raw SQL.
A superuser can still disable triggers; the hash chain is what detects that.
"""

TABLE = "audit_auditevent"
MESSAGE = "audit events are append-only"

_POSTGRES_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused on {TABLE}', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER audit_refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    f"""CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
]
_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS audit_refuse_update_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE}",
]
_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS audit_refuse_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused on {TABLE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_refuse_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused on {TABLE}'); END",
]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_refuse_update", "DROP TRIGGER IF EXISTS audit_refuse_delete"]


def _statements(vendor: str, install: bool) -> list[str]:
    if vendor == "postgresql":
        return _POSTGRES_INSTALL if install else _POSTGRES_DROP
    if vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_DROP
    raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def install(connection) -> None:
    statements = _statements(connection.vendor, True)
    if connection.vendor == "postgresql":
        statements = _POSTGRES_DROP + statements  # CREATE TRIGGER has no IF NOT EXISTS on PostgreSQL 15
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def drop(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, False):
            cursor.execute(sql)
