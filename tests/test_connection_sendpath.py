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


# -- the plain-TCP hot path: frames written with no lock when the socket takes them whole


class _ByteTracer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    @geventws.hookimpl
    def geventws_bytes_sent(self, ctx: Any, data: Any) -> None:
        self.sent.extend(data)


def test_plain_tcp_takes_the_hot_path_and_tls_or_byte_tracing_does_not(echo_server):
    import geventws.transport

    messages = ("x" * 32, b"\x00" * 4096, "é" * 3000)
    with geventws.connect(echo_server.url, compression=None, ping_interval=None) as ws:
        assert ws._os_sock is not None  # the OS socket under the gevent one
        for message in messages:
            ws.send(message)
            assert ws.recv(timeout=5) == message
    tracer = _ByteTracer()
    with geventws.connect(echo_server.url, compression=None, ping_interval=None,
                          plugins=[tracer]) as ws:
        assert ws._os_sock is None  # a hook may switch greenlets: writes take the lock
        for message in messages:
            ws.send(message)
            assert ws.recv(timeout=5) == message
    from tests.wire import unmask_frames

    payloads = [payload for _, _, _, payload in unmask_frames(b"".join(tracer.sent))]
    assert payloads[:-1] == [m.encode() if isinstance(m, str) else m for m in messages]
    assert len(payloads) == len(messages) + 1  # and the close frame
    tls_like = _StingySocket(gevent.socket.socket())
    assert geventws.transport.os_socket(tls_like) is None
    tls_like._sock.close()


def test_concurrent_senders_on_a_full_socket_never_interleave_frames():
    """While the peer reads nothing, send() calls from several greenlets fill the socket:
    a frame the kernel took only part of is finished under the lock, and no other
    greenlet's frame starts in its middle."""
    import socket as stdlib_socket

    from tests.rawserver import raw_server, upgrade
    from tests.wire import unmask_frames

    senders, per_sender, size = 4, 150, 3000
    expected_bytes = senders * per_sender * (size + 8)  # 126-length header + key: 8 bytes
    received = []

    def handler(sock):
        upgrade(sock)
        gevent.sleep(0.3)  # let every buffer fill
        data = bytearray()
        with gevent.Timeout(10):
            while len(data) < expected_bytes:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
        received.append(bytes(data))

    with raw_server(handler) as url:
        host, port = url.split("//")[1].strip("/").split(":")
        sock = gevent.socket.socket()
        sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_SNDBUF, 4096)
        sock.connect((host, int(port)))
        ws = geventws.connect(url, sock=sock, compression=None, ping_interval=None,
                              close_timeout=1)
        assert ws._os_sock is not None

        def sender(n):
            for i in range(per_sender):
                ws.send(f"{n}:{i:04d}:".ljust(size, chr(ord("a") + n)))

        with gevent.Timeout(20):
            gevent.joinall([gevent.spawn(sender, n) for n in range(senders)], raise_error=True)
            while not received:
                gevent.sleep(0.01)
        ws._abort()
    frames_seen = unmask_frames(received[0])
    assert len(frames_seen) == senders * per_sender
    order: dict[int, list[int]] = {n: [] for n in range(senders)}
    for opcode, fin, rsv, payload in frames_seen:
        assert (opcode, fin, rsv) == (1, True, 0)
        text = payload.decode()
        n, i = int(text.split(":")[0]), int(text.split(":")[1])
        assert text == f"{n}:{i:04d}:".ljust(size, chr(ord("a") + n))
        order[n].append(i)
    assert all(order[n] == list(range(per_sender)) for n in range(senders))


def test_recv_without_timeout_is_woken_when_the_connection_is_aborted():
    """A recv() waiting on the socket in the foreground ends when keepalive gives up
    and closes the socket under it (1011), instead of waiting forever."""
    from tests.rawserver import raw_server, upgrade

    def handler(sock):
        upgrade(sock)
        gevent.sleep(10)  # answers no ping

    with raw_server(handler) as url:
        ws = geventws.connect(url, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
        with gevent.Timeout(5):
            try:
                ws.recv()
            except geventws.ConnectionClosedError as exc:
                assert exc.sent is not None and exc.sent.code == 1011
            else:  # pragma: no cover
                raise AssertionError("recv() returned a message")
    assert ws._sock.fileno() == -1


def test_the_core_suite_runs_geventws_as_shipped(echo_server):
    """tests/conftest.py leaves installed third-party plugins out of core tests, so a
    plain connection here takes the hot paths, as it does for users without them."""
    with geventws.connect(echo_server.url, compression=None, ping_interval=None) as ws:
        assert ws._os_sock is not None
        assert ws.protocol._plain
