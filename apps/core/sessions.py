"""Django's database sessions (SESSION_ENGINE), with the read that every signed-in request makes written as one
plain statement.

Each request of a signed-in person loads its session. Django asks the ORM for
`Session.objects.get(session_key=..., expire_date__gt=now)`, and building and compiling that query cost several
times the CPU of running it (about a tenth of a small API call). The statement below is the same query: the row of
that key, only if it has not expired. What follows is Django's: a key with no live row is forgotten, so the next save
makes a new key rather than adopting one the client chose; saving, cycling keys, expiry and `clearsessions` are
untouched, and the table and its contents are the same.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        key, data, expiry = (model._meta.get_field(name) for name in ("session_key", "session_data", "expire_date"))
        quote = connection.ops.quote_name
        # Names from the model's metadata; the values are parameters.
        table, columns = quote(model._meta.db_table), [quote(field.column) for field in (data, key, expiry)]
        sql = f"SELECT {columns[0]} FROM {table} WHERE {columns[1]} = %s AND {columns[2]} > %s"  # noqa: S608
        params = [
            key.get_db_prep_value(self.session_key, connection),
            expiry.get_db_prep_value(timezone.now(), connection),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
