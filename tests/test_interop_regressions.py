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
