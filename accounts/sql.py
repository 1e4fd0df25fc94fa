"""Raw SQL of the accounts app (bound parameters only).

The API authenticates every call by its token. Built by the ORM, that one indexed lookup
(token joined to its account) cost more Python time than everything else a locate call
does; here it is one statement, prepared once per connection, and the rows become model
instances as the ORM would make them (Model.from_db, with each field's from_db_value).
"""

from functools import cache

from django.db import connection

from accounts.models import ApiToken, User
from gridmap import prepared


def _converters(model):
    return [getattr(f, "from_db_value", None) for f in model._meta.concrete_fields]


@cache
def _token_query():
    token_fields = ApiToken._meta.concrete_fields
    user_fields = User._meta.concrete_fields
    columns = [f't."{f.column}"' for f in token_fields] + [f'u."{f.column}"' for f in user_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {ApiToken._meta.db_table} t "
        f"JOIN {User._meta.db_table} u ON u.id = t.user_id "
        "WHERE t.key_hash = $1 AND t.revoked_at IS NULL"
    )
    return (
        sql,
        len(token_fields),
        [f.attname for f in token_fields],
        [f.attname for f in user_fields],
        _converters(ApiToken),
        _converters(User),
    )


def _instance(model, names, converters, values):
    values = [
        value if convert is None or value is None else convert(value, None, connection)
        for convert, value in zip(converters, values, strict=True)
    ]
    return model.from_db(connection.alias, names, values)


def token_with_user(key_hash):
    """Return the unrevoked ApiToken with this key hash, its `user` loaded, or None."""
    sql, n, token_names, user_names, token_conv, user_conv = _token_query()
    with connection.cursor() as cursor:
        prepared.execute(cursor, "gridmap_api_token", ("text",), sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token = _instance(ApiToken, token_names, token_conv, row[:n])
    token.user = _instance(User, user_names, user_conv, row[n:])
    return token
