"""ClientConnection's write queue: send_nowait() / close_nowait() and close without a code."""

from __future__ import annotations

import gevent
import pytest

import geventws
from geventws.server import WebSocketServer


def test_send_nowait_returns_before_writing_and_keeps_order(echo_server):
    with geventws.connect(echo_server.url) as ws:
        done: list[object] = []
        ws.send_nowait("one", lambda exc: done.append(("one", exc)))
        ws.send_nowait(bytearray(b"two"), lambda exc: done.append(("two", exc)))
        assert done == []  # nothing written yet: the caller was never blocked
        ws.send("three")  # the blocking send waits for the queue, so order holds
        assert done == [("one", None), ("two", None)]
        assert [ws.recv(timeout=5) for _ in range(3)] == ["one", b"two", "three"]


def test_send_nowait_copies_its_buffer(echo_server):
    with geventws.connect(echo_server.url) as ws:
        buf = bytearray(b"abc")
        ws.send_nowait(buf)
        buf[:] = b"xyz"
        assert ws.recv(timeout=5) == b"abc"


def test_send_nowait_rejects_non_messages_and_closed_connections(echo_server):
    ws = geventws.connect(echo_server.url)
    with pytest.raises(TypeError):
        ws.send_nowait(42)  # type: ignore[arg-type]
    ws.close()
    with pytest.raises(geventws.ConnectionClosed):
        ws.send_nowait("late")


def test_close_nowait_sends_queued_messages_first():
    received: list[object] = []

    def handler(conn):
        for message in conn:
            received.append(message)

    with WebSocketServer(handler) as server:
        ws = geventws.connect(server.url)
        ws.send_nowait("a")
        ws.send_nowait("b")
        ws.close_nowait(3001, "bye")
        ws.close_nowait(3002, "ignored")  # a second close does nothing
        with pytest.raises(geventws.ConnectionClosed):
            ws.send_nowait("c")  # closing has begun
        assert ws.wait_closed(timeout=5)
    assert received == ["a", "b"]
    assert ws.protocol.close_sent == geventws.Close(3001, "bye")


def test_callback_reports_messages_that_were_never_sent(echo_server):
    ws = geventws.connect(echo_server.url)
    errors: list[object] = []
    ws.send_nowait("x", errors.append)
    ws._abort()  # the socket dies before the writer runs
    assert ws.wait_closed(timeout=5)
    gevent.sleep(0.01)
    assert len(errors) == 1 and isinstance(errors[0], geventws.ConnectionClosed)


def test_close_without_code_sends_an_empty_close_frame(echo_server):
    ws = geventws.connect(echo_server.url)
    with pytest.raises(ValueError):
        ws.close(None, "reason without code")
    ws.close(None)
    assert ws.close_code == 1005
