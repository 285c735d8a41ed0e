"""Engine regressions found by the interop suite, pinned against the embedded server.

Each test names the peer behaviour that exposed the bug; it runs without the peers
so that the rule stays covered where Node or the peer libraries are missing.
"""

from __future__ import annotations

import gevent
import pytest

import geventws
from geventws.server import WebSocketServer


def test_iteration_ends_on_close_frame_without_status_code():
    """Node ws ``ws.close()`` (and websockets ``close(None)``) send an empty close frame.

    RFC 6455 §7.1.5 makes that code 1005, a normal closure: ``ConnectionClosedOK``,
    and iteration ends quietly as it does for 1000/1001 (``websockets`` ends its
    iteration on any ``ConnectionClosedOK``). It used to raise out of the loop.
    """
    def handler(conn):
        conn.send("only message")
        conn.close(None)

    with WebSocketServer(handler) as server:
        ws = geventws.connect(server.url, compression=None, open_timeout=5, close_timeout=5,
                              ping_interval=None)
        with gevent.Timeout(10):
            assert list(ws) == ["only message"]
        assert (ws.close_code, ws.close_reason) == (1005, "")
        with pytest.raises(geventws.ConnectionClosedOK):
            ws.recv(timeout=5)
        ws.close()


def test_iteration_raises_after_we_close_with_an_error_code_answered_by_1000():
    """aiohttp answers any client close frame with 1000 (RFC 6455 §5.5.1 allows it).

    We sent 4000, so the close is not OK (``ConnectionClosedError``, as ``recv()``
    raises): a loop over the connection must raise too, whatever the peer answered.
    It used to end quietly on the received 1000 and raise on an echoed 4000.
    """
    def handler(conn):
        conn.sock.recv(65536)  # the client's close frame, kept from the engine's echo
        conn.close(1000)  # answer 1000, as aiohttp does

    with WebSocketServer(handler) as server:
        ws = geventws.connect(server.url, compression=None, open_timeout=5, close_timeout=5,
                              ping_interval=None)
        reader = gevent.spawn(lambda: list(ws))
        gevent.sleep(0.05)
        ws.close(4000, "bye")
        reader.join(10)
        assert ws.close_code == 1000
        assert isinstance(reader.exception, geventws.ConnectionClosedError)
