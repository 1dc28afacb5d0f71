"""Drop the `hash` column's second index on PostgreSQL: the varchar_pattern_ops copy Django makes beside every unique
CharField's index there, for LIKE 'prefix%' lookups.

Nothing looks an event up by part of its hash (a hash is found whole, through the unique index, which stays). The copy
cost every audit append one more insertion at a random place in a large index (hashes are random): a quarter to a
third of a millisecond of the event's INSERT at 110k events, and more as the index outgrows memory; 2M events make it
about 150 MB. The field is unchanged, so the state is too; SQLite never had the index."""

from django.db import migrations


def _pattern_index(apps, schema_editor) -> tuple[str, str] | None:
    """(table, the pattern index's name as Django made it) on PostgreSQL, else None."""
    if schema_editor.connection.vendor != "postgresql":
        return None
    table = apps.get_model("audit", "AuditEvent")._meta.db_table
    return table, schema_editor._create_index_name(table, ["hash"], suffix="_like")


def drop_pattern_index(apps, schema_editor):
    if found := _pattern_index(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(found[1])}")


def create_pattern_index(apps, schema_editor):
    if found := _pattern_index(apps, schema_editor):
        table, name = found
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON {quote(table)} (hash varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction, and does not hold off appends

    dependencies = [("audit", "0008_model_trail_index")]

    operations = [migrations.RunPython(drop_pattern_index, create_pattern_index)]
