"""The connection's write path: a send() that takes only part of a chunk still delivers it all."""

from __future__ import annotations

from typing import Any

import gevent.socket

import geventws


class _StingySocket:
    """A gevent socket whose ``send`` takes at most 1000 bytes a call, as a full buffer would."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.partial_sends = 0

    def send(self, data: Any, *args: Any) -> int:
        sent: int = self._sock.send(bytes(data[:1000]), *args)
        if sent < len(data):
            self.partial_sends += 1
        return sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def test_partial_sends_are_completed(echo_server):
    host, port = echo_server.url.split("//")[1].strip("/").split(":")
    stingy = _StingySocket(gevent.socket.create_connection((host, int(port))))
    with geventws.connect(echo_server.url, sock=stingy, compression=None,
                          ping_interval=None) as ws:
        small, large = "é" * 700, bytes(range(256)) * 300
        ws.send(small)  # header and payload joined, 1,402 bytes: two send() calls
        assert ws.recv(timeout=5) == small
        ws.send(large)  # header and payload written separately
        assert ws.recv(timeout=5) == large
    assert stingy.partial_sends >= 2
    assert ws.close_code == 1000
