"""Unit tests of the DOM layer (geventws.dom) and of the WebSocket adapter's own rules."""

from __future__ import annotations

import ast
import pathlib

import pytest

import geventws
from geventws.dom import DOMException, Event, EventTarget, to_usv_string
from geventws.websocket import _parse_url


def test_listener_added_twice_fires_once():
    target, got = EventTarget(), []
    target.addEventListener("x", got.append)
    target.addEventListener("x", got.append)
    target.addEventListener("x", got.append, {"capture": True})  # another key: capture differs
    target.dispatchEvent(Event("x"))
    assert len(got) == 2


def test_once_listener_is_removed_before_it_runs():
    target, got = EventTarget(), []

    def listener(e):
        got.append(e)
        target.dispatchEvent(Event("x")) if len(got) == 1 else None

    target.addEventListener("x", listener, {"once": True})
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert len(got) == 1


def test_removal_during_dispatch_skips_the_removed_listener():
    target, calls = EventTarget(), []

    def second(e):
        calls.append("second")

    target.addEventListener("x", lambda e: (calls.append("first"),
                                            target.removeEventListener("x", second)))
    target.addEventListener("x", second)
    target.dispatchEvent(Event("x"))
    assert calls == ["first"]


def test_listener_added_during_dispatch_waits_for_the_next_one():
    target, calls = EventTarget(), []
    target.addEventListener("x", lambda e: (calls.append(1),
                                            target.addEventListener("x", calls.append)))
    target.dispatchEvent(Event("x"))
    assert calls == [1]


def test_handle_event_objects():
    class Handler:
        def __init__(self):
            self.seen = []

        def handleEvent(self, e):
            self.seen.append(e.type)

    target, handler = EventTarget(), Handler()
    target.addEventListener("x", handler)
    target.dispatchEvent(Event("x"))
    target.removeEventListener("x", handler)
    target.dispatchEvent(Event("x"))
    assert handler.seen == ["x"]


def test_stop_immediate_propagation_and_prevent_default():
    target, calls = EventTarget(), []
    target.addEventListener("x", lambda e: (e.preventDefault(), e.stopImmediatePropagation()))
    target.addEventListener("x", calls.append)
    assert target.dispatchEvent(Event("x", cancelable=True)) is False
    assert calls == []
    assert target.dispatchEvent(Event("x")) is True  # not cancelable: preventDefault is a no-op


def test_redispatching_an_event_being_dispatched_is_invalid_state():
    target, errors = EventTarget(), []

    def listener(e):
        with pytest.raises(DOMException) as info:
            target.dispatchEvent(e)
        errors.append(info.value.name)

    target.addEventListener("x", listener)
    target.dispatchEvent(Event("x"))
    assert errors == ["InvalidStateError"]


def test_event_handler_keeps_its_place_when_replaced_and_leaves_when_none():
    ws = geventws.WebSocket("ws://127.0.0.1:1/")
    ws.close()
    calls = []
    ws.addEventListener("message", lambda e: calls.append("a"))
    ws.onmessage = lambda e: calls.append("h1")
    ws.addEventListener("message", lambda e: calls.append("b"))
    ws.onmessage = lambda e: calls.append("h2")  # same place as h1
    ws.dispatchEvent(Event("message"))
    ws.onmessage = None
    ws.dispatchEvent(Event("message"))
    assert calls == ["a", "h2", "b", "a", "b"]
    assert ws.wait_closed(5)


def test_usv_string():
    assert to_usv_string("abc") == "abc"
    assert to_usv_string("a\ud800b") == "a\ufffdb"
    assert to_usv_string("\ud83d\ude00") == "\U0001f600"


def test_dom_exception():
    exc = DOMException("bad", "SyntaxError")
    assert isinstance(exc, Exception) and exc.name == "SyntaxError" and str(exc) == "bad"
    assert geventws.DOMException is DOMException


@pytest.mark.parametrize("url, serialized, origin", [
    ("ws://example.com", "ws://example.com/", "ws://example.com"),
    ("  wss://EXAMPLE.com:443/a?b=c  ", "wss://example.com/a?b=c", "wss://example.com"),
    ("http://[::1]:8080/x", "ws://[::1]:8080/x", "ws://[::1]:8080"),
    ("ws://user:pw@h:81/p", "ws://user:pw@h:81/p", "ws://h:81"),
    ("ws:\\\\h\\p", "ws://h/p", "ws://h"),
    ("ws://b\u00fccher.example/", "ws://xn--bcher-kva.example/", "ws://xn--bcher-kva.example"),
    ("ws://h/?", "ws://h/?", "ws://h"),
])
def test_url_parsing_and_serialization(url, serialized, origin):
    assert _parse_url(url) == (serialized, origin)


@pytest.mark.parametrize("url", ["ws://", "ws://h:99999/", "ws://h:x/", "ws://a%20b/", "1ws://h/"])
def test_bad_urls_are_syntax_errors(url):
    with pytest.raises(DOMException) as info:
        _parse_url(url)
    assert info.value.name == "SyntaxError"


def test_the_adapter_holds_no_protocol_logic():
    """DESIGN principle 4: websocket.py talks to the connection only, never to the frame
    engine, the handshake or a socket; everything on the wire is the blocking API's code."""
    source = pathlib.Path(geventws.websocket.__file__).read_text(encoding="utf-8")
    imported = {
        node.module for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import) for alias in node.names
    }
    assert imported <= {"__future__", "inspect", "logging", "urllib.parse", "collections.abc",
                        "typing", "gevent", "gevent.event", "connection", "dom", "exceptions"}
    for name in ("frames", "protocol", "handshake", "transport", "socket", "Opcode"):
        assert f"import {name}" not in source and f".{name} import" not in source


def test_close_while_connecting_before_the_greenlet_ran():
    """close() in the same breath as the constructor: error then close, nothing else."""
    ws = geventws.WebSocket("ws://127.0.0.1:1/")
    types = []
    for kind in ("open", "error", "close"):
        ws.addEventListener(kind, lambda e: types.append(e.type))
    ws.close()
    assert ws.wait_closed(5)
    assert types == ["error", "close"]
    assert "before the connection opened" in str(ws.failure)


def test_wait_closed_from_a_listener_is_refused(echo_server):
    ws = geventws.WebSocket(echo_server.url)
    errors = []

    def onopen(e):
        try:
            ws.wait_closed()
        except RuntimeError as exc:
            errors.append(exc)
        ws.close()

    ws.onopen = onopen
    assert ws.wait_closed(5)
    assert len(errors) == 1


def test_ready_state_is_closing_once_the_server_starts_the_closing_handshake():
    """WHATWG: readyState becomes CLOSING when the closing handshake starts, whichever
    side starts it. The server's close frame comes here 0.5 s before its TCP close;
    the message that arrived before it is still dispatched while OPEN."""
    import time

    import gevent

    from geventws import WebSocket
    from tests.rawserver import raw_server, upgrade
    from tests.wire import close_payload, frame

    def handler(sock):
        upgrade(sock)
        sock.sendall(frame(1, b"last") + frame(8, close_payload(1000, b"bye")))
        gevent.sleep(0.5)

    seen = []
    with raw_server(handler) as url:
        ws = WebSocket(url)
        ws.onmessage = lambda event: seen.append(("message", event.data, ws.readyState))
        ws.onclose = lambda event: seen.append(("close", event.code, ws.readyState))
        deadline = time.monotonic() + 5
        while ws.readyState != WebSocket.CLOSING and time.monotonic() < deadline:
            gevent.sleep(0.01)
        assert ws.readyState == WebSocket.CLOSING
        assert seen == [("message", "last", WebSocket.OPEN)]
        ws.close()  # closing already: does nothing
        assert ws.wait_closed(5)
    assert ws.readyState == WebSocket.CLOSED
    assert seen == [("message", "last", WebSocket.OPEN), ("close", 1000, WebSocket.CLOSED)]
