"""Every failure path of connect()/recv()/close() ends in the documented exception, in time,
with no greenlet or socket left behind."""

from __future__ import annotations

import gc
import socket
import ssl
import time

import gevent
import pytest

import geventws
from tests.rawserver import raw_server, read_request, upgrade
from tests.wire import close_payload, frame


def live_greenlets() -> set[int]:
    return {id(g) for g in gc.get_objects() if isinstance(g, gevent.Greenlet) and not g.dead}


@pytest.fixture(autouse=True)
def no_leaked_greenlets():
    before = live_greenlets()
    yield
    deadline = time.monotonic() + 2
    while live_greenlets() - before and time.monotonic() < deadline:
        gevent.sleep(0.01)
    leaked = [g for g in gc.get_objects() if isinstance(g, gevent.Greenlet) and not g.dead
              and id(g) not in before]
    assert leaked == []


@pytest.fixture
def sockets_closed(monkeypatch):
    """Record every socket geventws opens, to check it was closed."""
    from geventws import transport

    opened = []
    original = transport._connect_tcp

    def spy(*args, **kwargs):
        sock = original(*args, **kwargs)
        opened.append(sock)
        return sock

    monkeypatch.setattr(transport, "_connect_tcp", spy)
    yield opened
    assert opened, "no socket was opened"
    assert all(s.fileno() == -1 for s in opened), "a socket was left open"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, *args, **kwargs):
    t0 = time.monotonic()
    try:
        fn(*args, **kwargs)
    except BaseException as exc:
        return exc, time.monotonic() - t0
    raise AssertionError("no exception")


def test_refused():
    exc, elapsed = timed(geventws.connect, f"ws://127.0.0.1:{free_port()}/", open_timeout=5)
    assert isinstance(exc, ConnectionRefusedError)
    assert elapsed < 5


def test_dns_failure():
    exc, _ = timed(geventws.connect, "ws://no-such-host.invalid/", open_timeout=5)
    assert isinstance(exc, (socket.gaierror, geventws.OpenTimeout))


def test_invalid_uri():
    with pytest.raises(geventws.InvalidURI):
        geventws.connect("http://localhost/")


def test_tls_verification_failure(sockets_closed):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    def handler(sock):
        with gevent.Timeout(5, False):
            tls = gevent.ssl.SSLSocket(sock=sock, server_side=True, _context=server_ctx)
            upgrade(tls)
            tls.recv(10)

    import gevent.ssl

    with raw_server(handler) as url:
        wss = url.replace("ws://", "wss://")
        exc, elapsed = timed(geventws.connect, wss, open_timeout=5)
        assert isinstance(exc, ssl.SSLCertVerificationError)
        assert elapsed < 5
        # The same server is trusted once its CA is in the context.
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        ws = geventws.connect(wss, ssl=client_ctx, open_timeout=5, close_timeout=1)
        ws.close()


def test_non_101(sockets_closed):
    def handler(sock):
        read_request(sock)
        sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden")

    with raw_server(handler) as url, pytest.raises(geventws.InvalidStatus) as info:
        geventws.connect(url, open_timeout=5)
    assert info.value.status_code == 403
    assert info.value.body == b"forbidden"


def test_bad_accept_key(sockets_closed):
    with raw_server(lambda s: upgrade(s, accept="bm9wZQ==")) as url, \
            pytest.raises(geventws.InvalidHeader):
        geventws.connect(url, open_timeout=5)


def test_unoffered_extension(sockets_closed):
    handler = lambda s: upgrade(s, "Sec-WebSocket-Extensions: x-unknown")  # noqa: E731
    with raw_server(handler) as url, pytest.raises(geventws.NegotiationError):
        geventws.connect(url, open_timeout=5, compression=None)


def test_unoffered_subprotocol(sockets_closed):
    handler = lambda s: upgrade(s, "Sec-WebSocket-Protocol: other")  # noqa: E731
    with raw_server(handler) as url, pytest.raises(geventws.NegotiationError):
        geventws.connect(url, open_timeout=5, subprotocols=["chat"])


def test_server_silent_during_handshake(sockets_closed):
    def handler(sock):
        read_request(sock)
        gevent.sleep(10)

    with raw_server(handler) as url:
        exc, elapsed = timed(geventws.connect, url, open_timeout=0.5)
    assert isinstance(exc, geventws.OpenTimeout)
    assert isinstance(exc, TimeoutError)
    assert 0.5 <= elapsed < 2


def test_peer_vanishes_mid_frame(sockets_closed):
    def handler(sock):
        upgrade(sock)
        sock.sendall(frame(2, b"x" * 1000)[:500])  # half a frame, then gone

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5)
        exc, elapsed = timed(ws.recv, timeout=5)
    assert isinstance(exc, geventws.ConnectionClosedError)
    assert exc.code == 1006
    assert elapsed < 5
    assert ws.close_code == 1006


def test_peer_never_answers_our_close(sockets_closed):
    def handler(sock):
        upgrade(sock)
        gevent.sleep(10)

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5, close_timeout=0.5)
        t0 = time.monotonic()
        ws.close()
        elapsed = time.monotonic() - t0
    assert elapsed < 2
    assert ws.state is geventws.State.CLOSED
    assert ws.close_code == 1006
    with pytest.raises(geventws.ConnectionClosedError):
        ws.recv(timeout=1)


def test_server_closes_without_tcp_close(sockets_closed):
    """The server sends its close frame but keeps TCP open: close_timeout bounds the wait."""
    def handler(sock):
        upgrade(sock)
        sock.sendall(frame(8, close_payload(1000)))
        gevent.sleep(10)

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5, close_timeout=0.3)
        exc, elapsed = timed(ws.recv, timeout=5)
    assert isinstance(exc, geventws.ConnectionClosedOK)
    assert exc.code == 1000
    assert elapsed < 2


def test_protocol_error_from_server_fails_with_1002(sockets_closed):
    received = []

    def handler(sock):
        upgrade(sock)
        sock.sendall(frame(1, b"hi", rsv=4))
        received.append(sock.recv(100))

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5, close_timeout=0.3)
        with pytest.raises(geventws.ConnectionClosedError) as info:
            ws.recv(timeout=5)
    assert info.value.sent == geventws.Close(1002, info.value.sent.reason)
    assert isinstance(info.value.__cause__, geventws.ProtocolError)
    assert received and received[0][0] == 0x88  # our close frame reached the server


def test_oversized_message_fails_with_1009(sockets_closed):
    def handler(sock):
        upgrade(sock)
        sock.sendall(frame(2, b"x" * 2000))
        sock.recv(100)

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5, close_timeout=0.3, max_size=1000)
        with pytest.raises(geventws.ConnectionClosedError) as info:
            ws.recv(timeout=5)
    assert info.value.sent.code == 1009
    assert isinstance(info.value.__cause__, geventws.PayloadTooBig)


def test_first_frame_in_the_same_packet_as_the_101(sockets_closed):
    def handler(sock):
        request = read_request(sock)
        from tests.rawserver import accept_for

        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_for(request)}\r\n\r\n").encode() + frame(1, b"early"))
        sock.recv(100)

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5, close_timeout=0.3)
        assert ws.recv(timeout=5) == "early"
        ws.close()


def test_keepalive_detects_a_dead_peer(sockets_closed):
    def handler(sock):
        upgrade(sock)
        gevent.sleep(10)  # reads nothing, answers no ping

    with raw_server(handler) as url:
        ws = geventws.connect(url, open_timeout=5, ping_interval=0.2, ping_timeout=0.3,
                              close_timeout=0.3)
        exc, elapsed = timed(ws.recv, timeout=5)
    assert isinstance(exc, geventws.ConnectionClosedError)
    assert exc.sent is not None and exc.sent.code == 1011
    assert elapsed < 3


def test_send_after_close_raises(echo_server):
    ws = geventws.connect(echo_server.url)
    ws.close()
    with pytest.raises(geventws.ConnectionClosedOK):
        ws.send("late")
    ws.close()  # idempotent


def test_recv_timeout(echo_server):
    with geventws.connect(echo_server.url) as ws:
        exc, elapsed = timed(ws.recv, timeout=0.2)
        assert isinstance(exc, TimeoutError)
        assert 0.2 <= elapsed < 1
        ws.send("still works")
        assert ws.recv(timeout=5) == "still works"


@pytest.mark.parametrize("bad", [123, None, {"a": 1}, object()])
def test_send_rejects_non_messages(echo_server, bad):
    with geventws.connect(echo_server.url) as ws, pytest.raises(TypeError):
        ws.send(bad)


def test_close_argument_checks(echo_server):
    with geventws.connect(echo_server.url) as ws:
        with pytest.raises(ValueError):
            ws.close(1005)
        with pytest.raises(ValueError):
            ws.close(1000, "x" * 124)
