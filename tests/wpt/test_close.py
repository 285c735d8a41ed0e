"""WPT ``websockets/Close-*`` / ``Secure-Close-*`` files and ``interfaces/WebSocket/close/*``."""

from __future__ import annotations

import pytest

from geventws import DOMException, WebSocket


def open_then(wpt, record, action, path="/echo"):
    """Run ``action(ws)`` in the open handler; return the recorder once closed."""
    ws = WebSocket(wpt.url(path))
    ws.onopen = lambda e: action(ws)
    return record(ws).wait()


def raises(name, call):
    with pytest.raises(DOMException) as info:
        call()
    assert info.value.name == name


@pytest.mark.parametrize("code", [0, 999, 1001, 1005, 2999, 5000, 65535 + 1000])
def test_close_invalid_codes(wpt, record, code):
    """WPT Close-0.htm, Secure-Close-0.htm, Secure-Close-2999-reason.any.js,
    Close-NaN.htm (NaN becomes 0 in JS): codes other than 1000 and 3000-4999 are
    InvalidAccessError, and the socket stays open."""
    states = []

    def action(ws):
        raises("InvalidAccessError", lambda: ws.close(code, "reason"))
        states.append(ws.readyState)
        ws.close()

    open_then(wpt, record, action)
    assert states == [WebSocket.OPEN]


@pytest.mark.parametrize("code", ["string", 1000.0, None.__class__, True])
def test_close_non_integer_code(wpt, code):
    """WPT Close-string.htm, Close-null.htm, Secure-Close-onlyReason.any.js: JavaScript
    converts these to a number (and throws InvalidAccessError for 0); Python does not
    convert, so they are a TypeError."""
    ws = WebSocket(wpt.url("/"))
    with pytest.raises(TypeError):
        ws.close(code)
    ws.close()
    assert ws.wait_closed(5)


@pytest.mark.parametrize("code, reason, expected_code, expected_reason", [
    (1000, None, 1000, ""),                    # Close-1000.any.js, Secure-Close-1000.any.js
    (1000, "Clean Close", 1000, "Clean Close"),  # Close-1000-reason.any.js
    (3000, "Clean Close with code - 3000", 3000, "Clean Close with code - 3000"),
    (4999, "Clean Close with code - 4999", 4999, "Clean Close with code - 4999"),
    (None, None, 1005, ""),                    # Secure-Close-1005.any.js, -verify-code
    (None, "only a reason", 1000, "only a reason"),  # standard: a reason alone goes with 1000
])
def test_close_clean(wpt, record, code, reason, expected_code, expected_reason):
    """WPT Close-1000*.any.js, Secure-Close-1000-verify-code.any.js, Secure-Close-3000-reason /
    -verify-code.any.js, Secure-Close-4999-reason.any.js, Secure-Close-1005(-verify-code).any.js,
    Close-undefined.any.js: a clean close whose code/reason the server echoes back."""
    states = []

    def action(ws):
        ws.close(code, reason)
        states.append(ws.readyState)

    rec = open_then(wpt, record, action)
    close = rec.last("close")
    assert states == [WebSocket.CLOSING]  # Secure-Close-readyState-Closing.any.js
    assert rec.ws.readyState == WebSocket.CLOSED  # Secure-Close-readyState-Closed.any.js
    assert rec.types == ["open", "close"]
    assert (close.wasClean, close.code, close.reason) == (True, expected_code, expected_reason)


def test_close_reason_124_bytes(wpt, record):
    """WPT Close-Reason-124Bytes.any.js, Secure-Close-Reason-124Bytes.any.js: SyntaxError;
    123 bytes of UTF-8 are fine."""
    def action(ws):
        raises("SyntaxError", lambda: ws.close(1000, "x" * 124))
        raises("SyntaxError", lambda: ws.close(1000, "é" * 62))  # 124 bytes
        ws.close(1000, "x" * 123)

    rec = open_then(wpt, record, action)
    assert rec.last("close").reason == "x" * 123


def test_close_checks_code_before_reason(wpt, record):
    """Standard close() steps 1-2: an invalid code is reported before a too-long reason."""
    def action(ws):
        raises("InvalidAccessError", lambda: ws.close(2999, "x" * 200))
        ws.close()

    open_then(wpt, record, action)


def test_close_reason_unpaired_surrogates(wpt, record):
    """WPT Close-reason-unpaired-surrogates.any.js, Secure-Close-Reason-Unpaired-surrogates:
    the reason is a USVString, so a lone surrogate goes out as U+FFFD."""
    rec = open_then(wpt, record, lambda ws: ws.close(1000, "\ud807"))
    assert rec.last("close").reason == "\ufffd"


def test_close_server_initiated_close(wpt, record):
    """WPT Secure-Close-server-initiated-close.any.js: the server closes after "Goodbye"."""
    rec = open_then(wpt, record, lambda ws: ws.send("Goodbye"))
    close = rec.last("close")
    assert rec.types == ["open", "message", "close"]
    assert (close.wasClean, close.code) == (True, 1000)


@pytest.mark.parametrize("query, code, reason", [
    ("?code=3123&reason=server%20reason", 3123, "server reason"),
    ("", 1005, ""),
])
def test_remote_close_code_and_reason(wpt, record, query, code, reason):
    """Standard (the close event's code/reason are the server's close frame's; 1005 when it
    had no code), as Secure-Close-server-initiated-close.any.js checks for 1000."""
    ws = WebSocket(wpt.url("/remote-close") + query)
    rec = record(ws).wait()
    close = rec.last("close")
    assert (close.wasClean, close.code, close.reason) == (True, code, reason)
    assert rec.types == ["open", "close"]


def test_close_basic(wpt, record):
    """WPT close/001.html, close-basic.html: close() while CONNECTING gives wasClean false,
    and CloseEvent attributes are read-only."""
    ws = WebSocket(wpt.url("/"))
    ws.close()
    assert ws.readyState == WebSocket.CLOSING
    close = record(ws).wait().last("close")
    assert close.wasClean is False
    with pytest.raises(AttributeError):
        close.wasClean = True
    assert close.wasClean is False


def test_replacing_close(wpt):
    """WPT close/002.html."""
    ws = WebSocket(wpt.url("/"))
    real_close = ws.close
    ws.close = 5  # type: ignore[assignment,method-assign]
    assert ws.close == 5
    real_close()


def test_close_several_times(wpt, record):
    """WPT close/003.html, close-multiple.html: one close event for three close() calls."""
    ws = WebSocket(wpt.url("/"))
    ws.close()
    ws.close()
    ws.close()
    assert record(ws).wait().types.count("close") == 1


def test_close_return_value(wpt):
    """WPT close/004.html."""
    ws = WebSocket(wpt.url("/"))
    assert ws.close() is None


def test_close_in_close_event_handler(wpt, record):
    """WPT close/005.html, close-nested.html: close() in onclose does nothing."""
    ws = WebSocket(wpt.url("/"))
    seen = []

    def onclose(e):
        seen.append(ws.readyState)
        ws.close()
        seen.append(ws.readyState)

    ws.onclose = onclose
    ws.close()
    assert ws.readyState == WebSocket.CLOSING
    rec = record(ws).wait()
    assert seen == [WebSocket.CLOSED, WebSocket.CLOSED]
    assert rec.types.count("close") == 1


def test_close_when_connecting(wpt, record, until):
    """WPT close/006.html, close-connecting.html: the server never answers the handshake;
    close() while CONNECTING gives CLOSING at once, then error and close (1006, not clean),
    never open."""
    ws = WebSocket(wpt.url("/sleep_10_v13"))
    rec = record(ws)
    import gevent

    gevent.sleep(0.1)  # the TCP connection is up, the handshake pending
    assert ws.readyState == WebSocket.CONNECTING
    ws.close()
    assert ws.readyState == WebSocket.CLOSING
    rec.wait(5)
    close = rec.last("close")
    assert rec.types == ["error", "close"]
    assert (close.wasClean, close.code) == (False, 1006)
    assert ws.readyState == WebSocket.CLOSED
    assert ws.failure is not None


def test_messages_after_close_are_dropped(wpt, record):
    """Standard (when a message is received: if readyState is not OPEN, return): echoes that
    arrive after close() fire no message event."""
    def action(ws):
        ws.send("one")
        ws.send("two")
        ws.close()

    assert open_then(wpt, record, action).types == ["open", "close"]


def test_server_sends_closing_handshake(wpt, record):
    """WPT closing-handshake/002.html: the server closes on "Goodbye" (no echo): clean."""
    rec = open_then(wpt, record, lambda ws: ws.send("Goodbye"), path="/echo_exit")
    assert rec.types == ["open", "close"] and rec.last("close").wasClean


def test_client_sends_closing_handshake(wpt, record):
    """WPT closing-handshake/003.html: close() gives code 1005, clean."""
    rec = open_then(wpt, record, lambda ws: ws.close())
    close = rec.last("close")
    assert (close.code, close.wasClean) == (1005, True)


def test_data_after_closing_handshake(wpt, record):
    """WPT closing-handshake/004.html: a data frame after the server's close frame is
    ignored; the close is still clean."""
    rec = open_then(wpt, record, lambda ws: ws.send("Goodbye"), path="/echo_close_data")
    assert rec.types == ["open", "close"] and rec.last("close").wasClean
