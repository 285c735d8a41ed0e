"""GraphQL over WebSocket (the ``graphql-transport-ws`` subprotocol) as a geventws plugin.

Installing this distribution is all it takes; the plugin then:

* offers ``graphql-transport-ws`` when the connection asks for it, either with
  ``plugin_options={"graphql-transport-ws": {...}}`` or by listing it in
  ``connect(subprotocols=[...])``;
* once the server selected it, sets a JSON codec on the connection (``send`` takes
  dicts, ``recv`` returns dicts) and runs the opening exchange before
  ``connect()`` returns: ``connection_init`` (with ``payload`` from the options),
  answering the server's pings, until ``connection_ack`` (bounded by
  ``ack_timeout``, default ``open_timeout``);
* gives :func:`subscribe` and :func:`execute` to run operations.

The protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any, Optional

from geventws import ProtocolError, hookimpl

__all__ = ["SUBPROTOCOL", "GraphQLError", "JsonCodec", "execute", "subscribe"]

SUBPROTOCOL = "graphql-transport-ws"
_ids = itertools.count(1)


class GraphQLError(Exception):
    """The server answered an operation with ``error``; ``errors`` is its payload."""

    def __init__(self, errors: Any) -> None:
        self.errors = errors
        super().__init__(f"GraphQL errors: {errors!r}")


class JsonCodec:
    """Every message of the subprotocol is a JSON object in a text frame."""

    def encode(self, message: Any) -> str:
        return json.dumps(message, separators=(",", ":"))

    def decode(self, message: Any) -> Any:
        if isinstance(message, bytes):
            raise ProtocolError(f"{SUBPROTOCOL} messages are text, got a binary one")
        try:
            decoded = json.loads(message)
        except ValueError as exc:
            raise ProtocolError(f"{SUBPROTOCOL}: invalid JSON message: {exc}") from None
        if not isinstance(decoded, dict) or not isinstance(decoded.get("type"), str):
            raise ProtocolError(f"{SUBPROTOCOL}: message without a type: {message[:100]!r}")
        return decoded


def _options(ctx: Any) -> Mapping[str, Any]:
    return ctx.options(SUBPROTOCOL)


@hookimpl
def geventws_offer_subprotocols(ctx: Any) -> Optional[list[str]]:
    """Offer the subprotocol only when the user configured it: it changes what messages mean."""
    return [SUBPROTOCOL] if SUBPROTOCOL in ctx.plugin_options else None


@hookimpl
def geventws_message_codec(subprotocol: str) -> Optional[JsonCodec]:
    return JsonCodec() if subprotocol == SUBPROTOCOL else None


@hookimpl
def geventws_connection_opened(ctx: Any, connection: Any) -> None:
    """``connection_init`` → ``connection_ack``, answering pings meanwhile."""
    if connection.subprotocol != SUBPROTOCOL:
        return
    options = _options(ctx)
    init: dict[str, Any] = {"type": "connection_init"}
    if options.get("payload") is not None:
        init["payload"] = options["payload"]
    connection.send(init)
    timeout = options.get("ack_timeout", ctx.open_timeout)
    while True:
        message = connection.recv(timeout=timeout)
        kind = message["type"]
        if kind == "connection_ack":
            ctx.data[SUBPROTOCOL] = message.get("payload")
            return
        if kind == "ping":
            connection.send({"type": "pong"})
        elif kind != "pong":
            raise ProtocolError(f"{SUBPROTOCOL}: expected connection_ack, got {kind!r}")


def subscribe(
    connection: Any,
    query: str,
    variables: Optional[Mapping[str, Any]] = None,
    operation_name: Optional[str] = None,
    *,
    timeout: Optional[float] = None,
) -> Iterator[Any]:
    """Run one operation and yield each ``next`` payload until ``complete``.

    Raises :class:`GraphQLError` on ``error``. Pings are answered; messages for
    other operations are not expected (run one operation at a time per
    connection with this helper). Closing the generator early sends ``complete``.
    """
    op_id = str(next(_ids))
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = dict(variables)
    if operation_name is not None:
        payload["operationName"] = operation_name
    connection.send({"id": op_id, "type": "subscribe", "payload": payload})
    done = False
    try:
        while True:
            message = connection.recv(timeout=timeout)
            kind = message["type"]
            if kind == "ping":
                connection.send({"type": "pong"})
                continue
            if kind == "pong":
                continue
            if message.get("id") != op_id:
                raise ProtocolError(f"{SUBPROTOCOL}: message for unknown operation: {message}")
            if kind == "next":
                yield message.get("payload")
            elif kind == "error":
                done = True
                raise GraphQLError(message.get("payload"))
            elif kind == "complete":
                done = True
                return
            else:
                raise ProtocolError(f"{SUBPROTOCOL}: unexpected {kind!r} message")
    finally:
        if not done:
            try:
                connection.send({"id": op_id, "type": "complete"})
            except Exception:  # the connection is gone; nothing to stop
                pass


def execute(connection: Any, query: str, variables: Optional[Mapping[str, Any]] = None,
            operation_name: Optional[str] = None, *, timeout: Optional[float] = None) -> Any:
    """Run a query or mutation: the single result's payload."""
    results = list(subscribe(connection, query, variables, operation_name, timeout=timeout))
    if len(results) != 1:
        raise ProtocolError(f"{SUBPROTOCOL}: expected one result, got {len(results)}")
    return results[0]
