"""Raw SQL of the accounts app (bound parameters only).

The API authenticates every call by its token. Built by the ORM, that one indexed lookup
(token joined to its account) cost more Python time than everything else a locate call
does; here it is one statement, prepared once per connection, and the rows become model
instances as the ORM would make them (gridmap.prepared.instance).
"""

from functools import cache

from django.db import connection

from accounts.models import ApiToken, User
from gridmap import prepared


@cache
def _token_query():
    return (
        f"SELECT {prepared.columns(ApiToken, 't')}, {prepared.columns(User, 'u')} "
        f"FROM {ApiToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id "
        "WHERE t.key_hash = $1 AND t.revoked_at IS NULL"
    )


def token_with_user(key_hash):
    """Return the unrevoked ApiToken with this key hash, its `user` loaded, or None."""
    with connection.cursor() as cursor:
        prepared.execute(cursor, "gridmap_api_token", ("text",), _token_query(), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(ApiToken._meta.concrete_fields)
    token = prepared.instance(ApiToken, row[:n], connection)
    token.user = prepared.instance(User, row[n:], connection)
    return token
