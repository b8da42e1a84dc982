"""OpenTelemetry span attributes onto X-Ray's ``sql``, ``aws``, ``http`` and ``links`` fields.

Imports: standard library and ``obskit.semconv``, ``obskit.ids``.

The rules are those of AWS's OpenTelemetry-to-X-Ray translation (the collector's
``awsxrayexporter``), so a span from an ``opentelemetry-instrumentation-*`` package looks in
X-Ray as it would through the ADOT collector, without one:

* the subsegment's name: ``peer.service``, else for AWS calls ``aws.service``/``rpc.service``,
  else ``db.name`` (``@host`` of ``db.connection_string`` added), else ``rpc.service``,
  ``http.host``, ``net.peer.name``, else for an HTTP client call its host (``server.address`` or
  the URL's: X-Ray's service map shows a remote node by host), else the span name;
* ``namespace``: ``aws`` for ``rpc.system == "aws-api"`` or an ``aws.service`` attribute,
  ``remote`` for client (and, as obskit always did, producer) spans, else ``local``;
* ``sql`` for the SQL database systems only (``db.system`` in ``semconv.SQL_DB_SYSTEMS``):
  ``url`` is the span name, ``connection_string`` ``<db.connection_string or server.address or
  "localhost">/<db.name>``, ``database_type`` ``db.system``, ``user`` ``db.user``,
  ``sanitized_query`` ``db.statement`` (``db.query.text``). Redis and other stores get no ``sql``
  block: their attributes stay annotations and metadata;
* ``aws``: ``operation`` (``aws.operation``, ``rpc.method``), ``region`` (``aws.region``,
  ``cloud.region``), ``request_id``, ``queue_url`` (``messaging.url`` first), ``table_name``
  or ``table_names`` (``aws.dynamodb.table_names``), ``account_id``;
* ``http`` from the older HTTP names (``http.method``, ``http.url``, ``http.status_code``, ...)
  as well as the current ones;
* ``links``: each span link as ``{"trace_id", "id"}`` (messaging spans keep the messages' traces).

What a block takes is not repeated in annotations or metadata.
"""

from __future__ import annotations

from typing import Any

from obskit.ids import trace_id_to_xray
from obskit.semconv import (
    ATTR_AWS_ACCOUNT_ID,
    ATTR_AWS_DYNAMODB_TABLE_NAMES,
    ATTR_AWS_OPERATION,
    ATTR_AWS_QUEUE_URL,
    ATTR_AWS_QUEUE_URL_ALT,
    ATTR_AWS_REGION,
    ATTR_AWS_REQUEST_ID,
    ATTR_AWS_REQUEST_ID_ALT,
    ATTR_AWS_SERVICE,
    ATTR_AWS_TABLE_NAME,
    ATTR_AWS_TABLE_NAME_ALT,
    ATTR_CLOUD_REGION,
    ATTR_DB_CONNECTION_STRING,
    ATTR_DB_NAME,
    ATTR_DB_NAMESPACE,
    ATTR_DB_QUERY_TEXT,
    ATTR_DB_STATEMENT,
    ATTR_DB_SYSTEM,
    ATTR_DB_SYSTEM_NAME,
    ATTR_DB_USER,
    ATTR_HTTP_HOST_OLD,
    ATTR_HTTP_METHOD,
    ATTR_HTTP_METHOD_OLD,
    ATTR_HTTP_SCHEME_OLD,
    ATTR_HTTP_STATUS_OLD,
    ATTR_HTTP_TARGET_OLD,
    ATTR_HTTP_URL_OLD,
    ATTR_HTTP_USER_AGENT_OLD,
    ATTR_MESSAGING_URL,
    ATTR_NET_PEER_NAME,
    ATTR_NET_PEER_PORT,
    ATTR_PEER_SERVICE,
    ATTR_RPC_METHOD,
    ATTR_RPC_SERVICE,
    ATTR_RPC_SYSTEM,
    ATTR_SERVER_ADDRESS,
    ATTR_SERVER_PORT,
    ATTR_URL_FULL,
    SQL_DB_SYSTEMS,
)

__all__ = ["LEGACY_HTTP", "legacy_url", "links", "subsegment_fields"]

LEGACY_HTTP = frozenset({
    ATTR_HTTP_METHOD_OLD, ATTR_HTTP_STATUS_OLD, ATTR_HTTP_URL_OLD, ATTR_HTTP_SCHEME_OLD, ATTR_HTTP_HOST_OLD,
    ATTR_HTTP_TARGET_OLD, ATTR_HTTP_USER_AGENT_OLD, ATTR_NET_PEER_NAME, ATTR_NET_PEER_PORT,
})
"""The older HTTP attribute names: the ``http`` block takes them, like the current ones."""

_AWS_SYSTEM = "aws-api"
_SQL_TAKES = (ATTR_DB_SYSTEM, ATTR_DB_SYSTEM_NAME, ATTR_DB_NAME, ATTR_DB_NAMESPACE, ATTR_DB_STATEMENT,
              ATTR_DB_QUERY_TEXT, ATTR_DB_USER, ATTR_DB_CONNECTION_STRING)
_AWS_TAKES = (ATTR_AWS_OPERATION, ATTR_AWS_ACCOUNT_ID, ATTR_AWS_REGION, ATTR_AWS_REQUEST_ID_ALT,
              ATTR_AWS_QUEUE_URL, ATTR_AWS_QUEUE_URL_ALT, ATTR_AWS_TABLE_NAME, ATTR_AWS_TABLE_NAME_ALT)


def _text(value: Any) -> str | None:
    """A non-empty string for a JSON string field, or ``None`` (X-Ray wants strings there)."""
    if value is None or value == "":
        return None
    return value if type(value) is str else str(value)


def _first(attrs: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        got = _text(attrs.get(key))
        if got is not None:
            return got
    return None


def subsegment_fields(doc: dict[str, Any], name: str, remote_kind: bool,
                      attrs: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """Set ``namespace``, ``aws`` and ``sql`` on a subsegment ``doc``.

    Returns the name the subsegment should have (``None``: the span name) and the attribute
    keys the blocks took (to leave out of annotations and metadata).
    """
    taken: tuple[str, ...] = ()
    new_name = _text(attrs.get(ATTR_PEER_SERVICE))
    if attrs.get(ATTR_RPC_SYSTEM) == _AWS_SYSTEM or ATTR_AWS_SERVICE in attrs:
        doc["namespace"] = "aws"
        new_name = new_name or _first(attrs, ATTR_AWS_SERVICE, ATTR_RPC_SERVICE)
        aws = _aws_block(attrs)
        if aws:
            doc["aws"] = aws
        taken = _AWS_TAKES
    elif remote_kind:
        doc["namespace"] = "remote"
    system = _first(attrs, ATTR_DB_SYSTEM, ATTR_DB_SYSTEM_NAME)
    if system is not None:
        instance = _first(attrs, ATTR_DB_NAME, ATTR_DB_NAMESPACE)
        conn = _text(attrs.get(ATTR_DB_CONNECTION_STRING))
        if new_name is None and instance is not None:
            host = _host_of(conn) if conn else None
            new_name = f"{instance}@{host}" if host else instance
        if system in SQL_DB_SYSTEMS:
            doc["sql"] = _sql_block(name, system, instance, conn, attrs)
            taken += _SQL_TAKES
    if new_name is None and doc["namespace"] != "aws":
        new_name = _first(attrs, ATTR_RPC_SERVICE, ATTR_HTTP_HOST_OLD, ATTR_NET_PEER_NAME)
        if new_name is None and remote_kind and (ATTR_HTTP_METHOD in attrs or ATTR_HTTP_METHOD_OLD in attrs):
            new_name = _http_host(attrs)  # X-Ray's service map names a remote node by its host
    return new_name, taken


def _http_host(attrs: dict[str, Any]) -> str | None:
    host = _text(attrs.get(ATTR_SERVER_ADDRESS))
    if host is None:
        url = _first(attrs, ATTR_URL_FULL, ATTR_HTTP_URL_OLD)
        host = _host_of(url) if url else None
    return host


def _host_of(conn: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(conn).hostname
    except ValueError:
        return None


def _sql_block(name: str, system: str, instance: str | None, conn: str | None,
               attrs: dict[str, Any]) -> dict[str, Any]:
    if conn is None:
        host = _text(attrs.get(ATTR_SERVER_ADDRESS))
        port = _text(attrs.get(ATTR_SERVER_PORT))
        conn = (f"{host}:{port}" if port else host) if host else "localhost"
    sql = {"url": name, "connection_string": f"{conn}/{instance or ''}", "database_type": system}
    user = _text(attrs.get(ATTR_DB_USER))
    if user is not None:
        sql["user"] = user
    query = _first(attrs, ATTR_DB_STATEMENT, ATTR_DB_QUERY_TEXT)
    if query is not None:
        sql["sanitized_query"] = query
    return sql


def _aws_block(attrs: dict[str, Any]) -> dict[str, Any]:
    aws: dict[str, Any] = {}
    for field, keys in (
        ("operation", (ATTR_AWS_OPERATION, ATTR_RPC_METHOD)),
        ("region", (ATTR_AWS_REGION, ATTR_CLOUD_REGION)),
        ("request_id", (ATTR_AWS_REQUEST_ID, ATTR_AWS_REQUEST_ID_ALT)),
        ("queue_url", (ATTR_MESSAGING_URL, ATTR_AWS_QUEUE_URL, ATTR_AWS_QUEUE_URL_ALT)),
        ("account_id", (ATTR_AWS_ACCOUNT_ID,)),
    ):
        got = _first(attrs, *keys)
        if got is not None:
            aws[field] = got
    tables = attrs.get(ATTR_AWS_DYNAMODB_TABLE_NAMES)
    if isinstance(tables, (tuple, list)) and len(tables) > 1:
        aws["table_names"] = [str(t) for t in tables]
    elif isinstance(tables, (tuple, list)) and tables:
        aws["table_name"] = str(tables[0])
    else:
        table = _first(attrs, ATTR_AWS_TABLE_NAME, ATTR_AWS_TABLE_NAME_ALT)
        if table is not None:
            aws["table_name"] = table
    return aws


def legacy_url(attrs: dict[str, Any]) -> str | None:
    """The request URL from the older HTTP names (``http.url``, else scheme, host, port and target)."""
    url = _text(attrs.get(ATTR_HTTP_URL_OLD))
    if url is not None:
        return url
    scheme = _text(attrs.get(ATTR_HTTP_SCHEME_OLD)) or "http"
    host = _text(attrs.get(ATTR_HTTP_HOST_OLD))
    port = None
    if host is None:
        host = _text(attrs.get(ATTR_NET_PEER_NAME))
        port = _text(attrs.get(ATTR_NET_PEER_PORT))
    if host is None:
        return None
    if port and not ((scheme == "http" and port == "80") or (scheme == "https" and port == "443")):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{_text(attrs.get(ATTR_HTTP_TARGET_OLD)) or '/'}"


def links(rec: Any) -> list[dict[str, str]]:
    """The span's links as X-Ray ``links`` entries (those with a span id)."""
    return [{"trace_id": trace_id_to_xray(c.trace_id), "id": c.span_id} for c in rec.links if c.span_id]
