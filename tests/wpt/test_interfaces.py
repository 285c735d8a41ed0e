"""WPT ``interfaces/WebSocket/{readyState,constants,url,protocol,extensions}/*``,
``binaryType-wrong-value.any.js`` and ``Create-Secure-extensions-empty.any.js``."""

from __future__ import annotations

import pytest

from geventws import WebSocket

CONSTANTS = {"CONNECTING": 0, "OPEN": 1, "CLOSING": 2, "CLOSED": 3}


@pytest.fixture
def ws(wpt):
    socket = WebSocket(wpt.url("/"))
    yield socket
    socket.close()


@pytest.mark.parametrize("name, value", CONSTANTS.items())
def test_constants_on_class_and_instance(ws, name, value):
    """WPT constants/001.html - 006.html: the four constants on the interface and instances."""
    assert getattr(WebSocket, name) == value
    assert getattr(ws, name) == value


@pytest.mark.parametrize("name", CONSTANTS)
def test_constants_are_read_only_on_instances(ws, name):
    """WPT constants/00x.html (setting a constant): the value does not change."""
    with pytest.raises(AttributeError):
        setattr(ws, name, 5)
    assert getattr(ws, name) == CONSTANTS[name]


def test_ready_state_connecting_then_open_then_closed(wpt, record):
    """WPT readyState/001.html - 008.html: CONNECTING at first, OPEN in onopen, CLOSING after
    close(), CLOSED in onclose; read-only."""
    ws = WebSocket(wpt.url("/echo"))
    assert ws.readyState == WebSocket.CONNECTING
    with pytest.raises(AttributeError):
        ws.readyState = 3  # type: ignore[misc]
    seen = []
    ws.onopen = lambda e: (seen.append(ws.readyState), ws.close(),
                           seen.append(ws.readyState))
    ws.onclose = lambda e: seen.append(ws.readyState)
    record(ws).wait()
    assert seen == [1, 2, 3]


def test_url_is_read_only(ws, wpt):
    """WPT url/001.html - 006.html: ``url`` reflects the constructor argument; read-only."""
    assert ws.url == wpt.url("/")
    with pytest.raises(AttributeError):
        ws.url = "ws://other/"  # type: ignore[misc]
    assert ws.url == wpt.url("/")


def test_protocol_empty_before_open(ws):
    """WPT protocol/001.html, Create-valid-url-protocol-empty: "" until open; read-only."""
    assert ws.protocol == ""
    with pytest.raises(AttributeError):
        ws.protocol = "x"  # type: ignore[misc]


def test_protocol_empty_when_server_selects_none(wpt, record):
    """Standard (protocol is the server's selection): none selected, protocol stays ""."""
    ws = WebSocket(wpt.url("/echo"), "notecho")
    ws.onopen = lambda e: ws.close()
    record(ws).wait()
    assert ws.protocol == ""


def test_extensions_empty(ws):
    """WPT extensions/001.html: "" before open; read-only."""
    assert ws.extensions == ""
    with pytest.raises(AttributeError):
        ws.extensions = "x"  # type: ignore[misc]


def test_create_secure_extensions_empty(wpt, record):
    """WPT Create-Secure-extensions-empty.any.js: the server accepts none: "" after open."""
    ws = WebSocket(wpt.url("/echo"))
    seen = []
    ws.onopen = lambda e: (seen.append(ws.extensions), ws.close())
    record(ws).wait()
    assert seen == [""]


def test_binary_type_default_blob(ws):
    """WPT Create-Secure-valid-url-binaryType-blob.any.js: "blob" by default."""
    assert ws.binaryType == "blob"


def test_binary_type_wrong_value(ws):
    """WPT binaryType-wrong-value.any.js: other values are ignored."""
    ws.binaryType = "arraybuffer"
    ws.binaryType = "notBlobOrArrayBuffer"
    assert ws.binaryType == "arraybuffer"
    ws.binaryType = "blob"
    ws.binaryType = "ArrayBuffer"  # enum values are case-sensitive
    assert ws.binaryType == "blob"


def test_binary_type_read_at_each_message(wpt, record):
    """Standard (a message is received: binaryType decides its type then)."""
    ws = WebSocket(wpt.url("/echo"))
    ws.onopen = lambda e: ws.send(b"1")

    def onmessage(e):
        if e.data == b"1":
            ws.binaryType = "arraybuffer"
            ws.send(b"2")
        else:
            ws.close()

    ws.onmessage = onmessage
    rec = record(ws).wait()
    assert [type(e.data) for e in rec.events if e.type == "message"] == [bytes, bytearray]


def test_message_event_origin(wpt, record):
    """Standard (MessageEvent origin: the serialized origin of the URL)."""
    ws = WebSocket(wpt.url("/echo"))
    ws.onopen = lambda e: ws.send("x")
    ws.onmessage = lambda e: ws.close()
    message = record(ws).wait().last("message")
    assert message.origin == f"ws://127.0.0.1:{wpt.port}"
    assert (message.lastEventId, message.source, message.ports) == ("", None, ())
