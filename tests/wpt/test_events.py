"""WPT ``interfaces/WebSocket/events/*`` and ``interfaces/CloseEvent/*``."""

from __future__ import annotations

import pytest

from geventws import CloseEvent, Event, EventTarget, MessageEvent, WebSocket

HANDLERS = ["onopen", "onmessage", "onerror", "onclose"]
# "\x81\x04test" is a text frame; "\x83\x03LOL" has reserved opcode 3 and fails the connection.
RAW_THEN_BAD = "\\x81\\x04test\\x83\\x03LOL"


@pytest.fixture
def ws(wpt):
    socket = WebSocket(wpt.url("/"))
    yield socket
    socket.close()


@pytest.mark.parametrize("name", HANDLERS)
def test_getting_on_handlers(ws, name):
    """WPT events/001.html: every on* is None (null) at first."""
    assert getattr(ws, name) is None


@pytest.mark.parametrize("name", HANDLERS)
def test_setting_on_handlers(ws, name):
    """WPT events/002.html."""
    def foo(e):
        pass

    setattr(ws, name, foo)
    assert getattr(ws, name) is foo


@pytest.mark.parametrize("type", ["open", "message", "error", "close"])
def test_on_handler_gets_dispatched_event(ws, type):
    """WPT events/003.html (open), 007.html (message), 008.html (error), 009.html (close):
    an untrusted event passed to dispatchEvent reaches the handler synchronously."""
    got = []
    setattr(ws, "on" + type, got.append)
    event = Event(type)
    event.detail = 5  # type: ignore[attr-defined]
    ws.dispatchEvent(event)
    assert [e.detail for e in got] == [5]
    assert got[0].isTrusted is False


def test_members_of_event_target(ws):
    """WPT events/004.html."""
    assert isinstance(ws, EventTarget)
    for name in ("addEventListener", "removeEventListener", "dispatchEvent"):
        assert callable(getattr(ws, name))


def test_on_handlers_in_ws(ws):
    """WPT events/006.html: 'on*' in ws."""
    for name in HANDLERS:
        assert hasattr(ws, name)


@pytest.mark.parametrize("name", HANDLERS)
@pytest.mark.parametrize("value", [None, 1, ";", type("H", (), {"handleEvent": lambda s, e: 0})()])
def test_setting_handlers_to_non_callables(ws, name, value):
    """WPT events/010.html (undefined), 011.html (1), 012.html (";"), 013.html ({handleEvent}),
    014.html (null): the attribute reads back None."""
    setattr(ws, name, lambda e: None)
    setattr(ws, name, value)
    assert getattr(ws, name) is None


def test_instanceof_on_events(wpt, record):
    """WPT events/015.html: open is an Event, message a MessageEvent (readyState OPEN),
    error an Event fired when readyState is already CLOSED, close a CloseEvent."""
    ws = WebSocket(wpt.url("/echo_raw"))
    states = {}
    ws.onopen = lambda e: ws.send(RAW_THEN_BAD)
    for kind in ("message", "error", "close"):
        ws.addEventListener(kind, lambda e: states.setdefault(e.type, ws.readyState))
    rec = record(ws).wait()
    assert rec.types == ["open", "message", "error", "close"]
    open_, message, error, close = rec.events
    assert type(open_) is Event and type(error) is Event
    assert isinstance(message, MessageEvent) and message.data == "test"
    assert isinstance(close, CloseEvent)
    assert states == {"message": WebSocket.OPEN, "error": WebSocket.CLOSED,
                      "close": WebSocket.CLOSED}
    assert (close.wasClean, close.code) == (False, 1006)
    assert all(e.isTrusted for e in rec.events)


def test_add_event_listener_order(wpt):
    """WPT events/016.html: listeners and the on* handler run in registration order."""
    ws = WebSocket(wpt.url("/echo"))
    calls = []

    def add(type, n):
        ws.addEventListener(type, lambda e: calls.append(n))

    ws.addEventListener("open", lambda e: (calls.append(1), ws.send("Goodbye")))
    ws.onopen = lambda e: calls.append(2)
    add("open", 3)
    add("message", 4)
    ws.onmessage = lambda e: calls.append(5)
    add("message", 6)
    add("close", 7)
    ws.onclose = lambda e: calls.append(8)
    add("close", 9)
    assert ws.wait_closed(5)
    assert calls == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_target_current_target_event_phase(wpt, record):
    """WPT events/017.html: target and currentTarget are the socket, eventPhase AT_TARGET."""
    ws = WebSocket(wpt.url("/echo_raw"))
    seen = []
    for kind in ("open", "message", "error", "close"):
        ws.addEventListener(kind, lambda e: seen.append(
            (e.type, e.target is ws, e.currentTarget is ws, e.eventPhase)))
    ws.addEventListener("open", lambda e: ws.send(RAW_THEN_BAD))
    record(ws).wait()
    assert seen == [(t, True, True, 2) for t in ("open", "message", "error", "close")]


def test_event_classes_bubbles_cancelable(wpt, record):
    """WPT events/018.html: toString() names (here: classes), bubbles and cancelable false."""
    ws = WebSocket(wpt.url("/echo_raw"))
    ws.onopen = lambda e: ws.send(RAW_THEN_BAD)
    rec = record(ws).wait()
    assert [type(e).__name__ for e in rec.events] == \
        ["Event", "MessageEvent", "Event", "CloseEvent"]
    assert not any(e.bubbles or e.cancelable for e in rec.events)


@pytest.mark.parametrize("type", ["open", "message", "error", "close"])
def test_remove_event_listener(wpt, type):
    """WPT events/019.html: a removed listener is not called."""
    ws = WebSocket(wpt.url("/echo"))
    ws.close()
    got = []
    ws.addEventListener(type, got.append, False)
    ws.removeEventListener(type, got.append, False)
    ws.dispatchEvent(Event(type))
    assert got == []


def test_error_events(record):
    """WPT events/020.html: a host that does not resolve gives an error event (an Event)."""
    ws = WebSocket("ws://example.invalid/", open_timeout=5)
    rec = record(ws).wait(10)
    assert rec.types == ["error", "close"]
    assert type(rec.events[0]) is Event
    assert isinstance(ws.failure, OSError)


def test_failed_handshake_fires_error_then_close(wpt, record):
    """WPT websockets/handlers/wrong_accept_key_wsh.py (opening-handshake tests): a bad
    Sec-WebSocket-Accept fails the connection: error, then close 1006 not clean."""
    ws = WebSocket(wpt.url("/wrong_accept_key"))
    rec = record(ws).wait()
    assert rec.types == ["error", "close"]
    close = rec.last("close")
    assert (close.wasClean, close.code, close.reason) == (False, 1006, "")
    assert ws.failure is not None


def test_refused_connection(record):
    """Standard (establish a WebSocket connection fails): error, close 1006; ``failure``."""
    ws = WebSocket("ws://127.0.0.1:1/")
    rec = record(ws).wait()
    assert rec.types == ["error", "close"]
    assert isinstance(ws.failure, ConnectionRefusedError)


def test_tcp_drop_without_close_frame(wpt, record):
    """Standard (the WebSocket connection is closed): an abrupt TCP end is not a failure of
    ours, so close (1006, not clean) fires without error."""
    rec = record(WebSocket(wpt.url("/drop"))).wait()
    assert rec.types == ["open", "close"]
    close = rec.last("close")
    assert (close.wasClean, close.code) == (False, 1006)


def test_close_event_interface():
    """WPT CloseEvent/001.html (CloseEvent exists), 002.html (defaults), 003.html (init)."""
    event = CloseEvent("foo")
    assert (event.bubbles, event.cancelable, event.wasClean, event.code, event.reason) == \
        (False, False, False, 0, "")
    event = CloseEvent("foo", {"bubbles": True, "cancelable": True, "wasClean": True,
                               "code": 3000, "reason": "r"})
    assert (event.bubbles, event.cancelable, event.wasClean, event.code, event.reason) == \
        (True, True, True, 3000, "r")
    target = EventTarget()
    got = []
    target.addEventListener("foo", got.append)
    target.dispatchEvent(event)
    assert got == [event] and event.target is target


def test_was_clean_true(wpt, record):
    """WPT CloseEvent/004.html, clean-close.html: send, then close() on the echo: clean."""
    ws = WebSocket(wpt.url("/echo"))
    ws.onopen = lambda e: ws.send("Test")
    ws.onmessage = lambda e: ws.close()
    assert record(ws).wait().last("close").wasClean is True


def test_listener_exception_is_logged_and_others_run(wpt, record, caplog):
    """Standard (DOM: report the exception): a raising listener does not stop the others,
    nor the connection."""
    ws = WebSocket(wpt.url("/echo"))

    def bad(e):
        raise RuntimeError("boom")

    ws.addEventListener("open", bad)
    ws.onopen = lambda e: ws.send("still here")
    ws.addEventListener("message", bad)
    ws.onmessage = lambda e: ws.close()
    rec = record(ws).wait()
    assert rec.types == ["open", "message", "close"]
    assert rec.last("close").wasClean
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [("boom",), ("boom",)]


def test_events_never_fire_inside_constructor_send_or_close(wpt):
    """Standard (events are queued as tasks): nothing fires inside WebSocket(), send() or
    close(); handlers set afterwards see everything."""
    fired = []
    ws = WebSocket(wpt.url("/echo"))
    ws.onopen = lambda e: fired.append("open")
    ws.onclose = lambda e: fired.append("close")
    assert fired == []

    def onmessage(e):
        fired.append("message")
        before = list(fired)
        ws.send("again")
        ws.close()
        assert fired == before

    ws.onmessage = onmessage
    ws.addEventListener("open", lambda e: ws.send("x"))
    assert ws.wait_closed(5)
    assert fired == ["open", "message", "close"]
