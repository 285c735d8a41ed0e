"""Engine regressions found by the interop suite, pinned against the embedded server.

Each test names the peer behaviour that exposed the bug; it runs without the peers
so that the rule stays covered where Node or the peer libraries are missing.
"""

from __future__ import annotations

import os

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


def test_incompressible_message_of_exactly_max_size_is_accepted_compressed():
    """Every peer compresses a 16 MiB random message into a frame *larger* than 16 MiB
    (deflate's stored blocks add a few bytes each): with ``max_size=16 MiB`` the header
    check used to refuse that frame with 1009 although the message is exactly max_size.
    With an extension negotiated the wire length only bounds buffering (with room for
    deflate's expansion); the message size is checked exactly once decoded."""
    from geventws.extensions.permessage_deflate import PerMessageDeflate
    from geventws.frames import Frame, serialize_frame
    from geventws.protocol import Protocol, Role

    n = 1 << 20
    data = os.urandom(n)
    for size, fragments, fails in [(n, 1, False), (n, 4, False), (n + 1, 1, True),
                                   (n + 1, 4, True)]:
        server = PerMessageDeflate()
        payload = data[:size] if size <= n else data + b"!"
        step = -(-size // fragments)
        wire = b""
        for i in range(fragments):
            frame = server.encode(Frame(0x2 if i == 0 else 0x0, payload[i * step:(i + 1) * step],
                                        fin=i == fragments - 1))
            assert fragments > 1 or len(frame.data) > size  # the frame outgrew the message
            wire += b"".join(serialize_frame(frame, mask=False))
        protocol = Protocol(Role.CLIENT, max_size=n, extensions=[PerMessageDeflate()])
        protocol.receive_data(wire)
        if fails:
            assert protocol.close_sent is not None and protocol.close_sent.code == 1009
            assert isinstance(protocol.failure, geventws.PayloadTooBig)
        else:
            assert protocol.events_received() == [payload]
            assert protocol.close_sent is None
