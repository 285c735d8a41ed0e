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
    """WPT constants/001.html (on the constructor), constants/004.html (prototype, object)."""
    assert getattr(WebSocket, name) == value
    assert getattr(ws, name) == value


@pytest.mark.parametrize("name", CONSTANTS)
def test_setting_and_deleting_constants(ws, name):
    """WPT constants/002.html (setting), constants/003.html (deleting): the values stay.
    (JavaScript ignores the write; Python refuses it with AttributeError.)"""
    for obj in (WebSocket, ws):
        with pytest.raises(AttributeError):
            setattr(obj, name, 5)
        with pytest.raises(AttributeError):
            delattr(obj, name)
    assert getattr(WebSocket, name) == getattr(ws, name) == CONSTANTS[name]


def test_getting_ready_state_in_connecting(ws):
    """WPT readyState/001.html."""
    assert ws.readyState == WebSocket.CONNECTING


def test_setting_ready_state(ws):
    """WPT readyState/002.html: read-only."""
    with pytest.raises(AttributeError):
        ws.readyState = 5  # type: ignore[misc]
    assert ws.readyState == WebSocket.CONNECTING


def test_ready_state_open_closing_closed(wpt, record):
    """WPT readyState/006.html (open), 007.html (closing), 008.html (closed)."""
    ws = WebSocket(wpt.url("/echo"))
    seen = []
    ws.onopen = lambda e: (seen.append(ws.readyState), ws.close(),
                           seen.append(ws.readyState))
    ws.onclose = lambda e: seen.append(ws.readyState)
    record(ws).wait()
    assert seen == [1, 2, 3]


def test_getting_url(wpt):
    """WPT url/001.html: a URL without a path gets "/"."""
    ws = WebSocket(wpt.url("/")[:-1])
    assert ws.url == wpt.url("/")
    ws.close()


def test_setting_and_deleting_url(ws, wpt):
    """WPT url/002.html (setting), url/003.html (deleting): read-only."""
    with pytest.raises(AttributeError):
        ws.url = "ws://other/"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del ws.url
    assert ws.url == wpt.url("/")


def test_no_uppercase_url_attribute(ws):
    """WPT url/004.html: there is no ``URL`` attribute."""
    assert not hasattr(ws, "URL") and not hasattr(WebSocket, "URL")


def test_protocol_empty_before_open(ws):
    """WPT protocol/001.html, Create-valid-url-protocol-empty.any.js: "" while connecting;
    read-only."""
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
    """WPT extensions/001.html: "" while connecting; read-only."""
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
