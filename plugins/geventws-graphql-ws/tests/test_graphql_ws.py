"""geventws-graphql-ws against a small graphql-transport-ws server on the embedded engine."""

from __future__ import annotations

import json

import geventws_graphql_ws as gql
import pytest

import geventws
from geventws.plugins import get_plugin_manager, reset_plugin_manager
from geventws.server import WebSocketServer

pytestmark = pytest.mark.timeout(30)


def graphql_server(conn):
    """Demands a token in connection_init, pings once, then serves ``count`` and ``fail``."""
    messages = (json.loads(m) for m in conn)
    init = next(messages)
    assert init["type"] == "connection_init"
    if (init.get("payload") or {}).get("token") != "secret":
        conn.close(4403, "Forbidden")
        return
    conn.send(json.dumps({"type": "ping"}))
    pong = next(messages)
    assert pong["type"] == "pong"
    conn.send(json.dumps({"type": "connection_ack", "payload": {"server": "test"}}))
    for message in messages:
        if message["type"] != "subscribe":
            continue
        op_id, query = message["id"], message["payload"]["query"]
        if query.startswith("subscription"):
            upto = message["payload"]["variables"]["upto"]
            for i in range(upto):
                conn.send(json.dumps({"id": op_id, "type": "next",
                                      "payload": {"data": {"count": i}}}))
            conn.send(json.dumps({"id": op_id, "type": "complete"}))
        elif query == "{ fail }":
            conn.send(json.dumps({"id": op_id, "type": "error",
                                  "payload": [{"message": "nope"}]}))
        else:
            conn.send(json.dumps({"id": op_id, "type": "next",
                                  "payload": {"data": {"hello": "world"}}}))
            conn.send(json.dumps({"id": op_id, "type": "complete"}))


@pytest.fixture
def server():
    reset_plugin_manager()
    with WebSocketServer(graphql_server, subprotocols=[gql.SUBPROTOCOL]) as server:
        yield server


OPTIONS = {gql.SUBPROTOCOL: {"payload": {"token": "secret"}}}


def test_found_through_its_entry_point():
    assert get_plugin_manager().get_plugin(gql.SUBPROTOCOL) is gql


def test_opening_exchange_then_operations(server):
    with geventws.connect(server.url, plugin_options=OPTIONS) as ws:
        assert ws.subprotocol == gql.SUBPROTOCOL
        assert gql.execute(ws, "{ hello }", timeout=5) == {"data": {"hello": "world"}}
        counts = [r["data"]["count"] for r in gql.subscribe(
            ws, "subscription ($upto: Int!) { count(upto: $upto) }", {"upto": 3}, timeout=5)]
        assert counts == [0, 1, 2]
        with pytest.raises(gql.GraphQLError) as info:
            gql.execute(ws, "{ fail }", timeout=5)
        assert info.value.errors == [{"message": "nope"}]
    assert ws.close_code == 1000


def test_listing_the_subprotocol_yourself_also_runs_the_exchange(server):
    with geventws.connect(server.url, subprotocols=[gql.SUBPROTOCOL],
                          plugin_options=OPTIONS) as ws:
        assert gql.execute(ws, "{ hello }", timeout=5)["data"] == {"hello": "world"}


def test_not_offered_unless_asked(server):
    with geventws.connect(server.url) as ws:
        assert ws.subprotocol is None
        assert ws.codec is None


def test_refused_init_fails_connect(server):
    with pytest.raises(geventws.ConnectionClosedError) as info:
        geventws.connect(server.url, plugin_options={gql.SUBPROTOCOL: {}})
    assert info.value.rcvd.code == 4403


def test_codec_refuses_non_protocol_messages():
    codec = gql.JsonCodec()
    assert codec.decode('{"type": "next"}') == {"type": "next"}
    for bad in ['[1]', '{"id": "1"}', "not json", b'{"type": "x"}']:
        with pytest.raises(geventws.ProtocolError):
            codec.decode(bad)
