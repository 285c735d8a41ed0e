"""The blocking API against the embedded server and hand-written peers."""

from __future__ import annotations

import socket
import time

import gevent
import gevent.server
import pytest

import geventws
from geventws.server import EchoServer, WebSocketServer
from tests.rawserver import raw_server, upgrade
from tests.wire import close_payload, frame, unmask_frames


def test_iteration_ends_cleanly_on_1000():
    def handler(conn):
        for i in range(3):
            conn.send(f"m{i}")
        conn.close(1000, "done")

    with WebSocketServer(handler) as server, geventws.connect(server.url) as ws:
        assert list(ws) == ["m0", "m1", "m2"]
        assert (ws.close_code, ws.close_reason) == (1000, "done")


def test_iteration_raises_on_error_close():
    def handler(conn):
        conn.send("one")
        conn.close(4001, "custom")

    with WebSocketServer(handler) as server, geventws.connect(server.url) as ws:
        got = []
        with pytest.raises(geventws.ConnectionClosedError) as info:
            for message in ws:
                got.append(message)
        assert got == ["one"]
        assert (info.value.code, info.value.reason) == (4001, "custom")


def test_ipv6():
    try:
        server = EchoServer(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        with geventws.connect(f"ws://[::1]:{server.port}/") as ws:
            ws.send("six")
            assert ws.recv(timeout=5) == "six"
    finally:
        server.stop()


def test_request_headers_and_path(echo_server):
    seen = {}

    def handler(conn):
        seen["path"] = conn.path
        seen["headers"] = dict(conn.request_headers)
        conn.send("ok")

    with WebSocketServer(handler) as server:
        url = server.url.replace("/", "/chat?room=1", 3)[: len(server.url)] if False else \
            server.url + "chat?room=1"
        with geventws.connect(url, origin="http://example.com",
                              additional_headers={"X-Token": "abc"},
                              user_agent_header="tester/1") as ws:
            assert ws.recv(timeout=5) == "ok"
    assert seen["path"] == "/chat?room=1"
    headers = seen["headers"]
    assert headers["origin"] == "http://example.com"
    assert headers["x-token"] == "abc"
    assert headers["user-agent"] == "tester/1"
    assert headers["sec-websocket-version"] == "13"


def test_basic_auth_from_uri():
    seen = {}

    def handler(conn):
        seen.update(conn.request_headers)
        conn.send("ok")

    with WebSocketServer(handler) as server:
        url = server.url.replace("ws://", "ws://user:pa%3Ass@")
        with geventws.connect(url) as ws:
            ws.recv(timeout=5)
    import base64

    assert seen["authorization"] == "Basic " + base64.b64encode(b"user:pa:ss").decode()


def test_subprotocol_selected():
    with WebSocketServer(subprotocols=["v2", "v1"]) as server, \
            geventws.connect(server.url, subprotocols=["v1", "v2"]) as ws:
        assert ws.subprotocol == "v2"


def test_ping_resolves_with_latency_and_older_pings(echo_server):
    with geventws.connect(echo_server.url) as ws:
        first = ws.ping(b"1")
        second = ws.ping(b"2")
        assert second.get(timeout=5) >= 0
        assert first.ready()
        with pytest.raises(ValueError):
            ws.ping(b"x")
            ws.ping(b"x")


def test_fragmented_send_on_the_wire():
    chunks = []

    def handler(sock):
        upgrade(sock)
        data = b""
        deadline = time.monotonic() + 5
        while len(unmask_frames_safe(data)) < 3 and time.monotonic() < deadline:
            data += sock.recv(65536)
        chunks.extend(unmask_frames_safe(data))
        sock.sendall(frame(8, close_payload(1000)))

    with raw_server(handler) as url:
        ws = geventws.connect(url, close_timeout=1)
        ws.send([b"ab", bytearray(b"cd"), memoryview(b"ef")])
        with pytest.raises(geventws.ConnectionClosedOK):
            ws.recv(timeout=5)
    assert chunks[:3] == [(2, False, 0, b"ab"), (0, False, 0, b"cd"), (0, True, 0, b"ef")]


def unmask_frames_safe(data: bytes):
    try:
        return unmask_frames(data)
    except (IndexError, AssertionError):
        return []


def test_mixed_fragment_types_are_refused(echo_server):
    with geventws.connect(echo_server.url) as ws, pytest.raises(TypeError):
        ws.send(["text", b"bytes"])


def test_max_queue_stops_reading_the_socket():
    """With max_queue=4 and nobody calling recv(), the reader stops: the server's writes
    back up in TCP instead of piling up in the client's memory."""
    progress = {"sent": 0}

    def handler(conn):
        payload = b"x" * 65536
        try:
            for _ in range(2000):  # 128 MiB if nothing pushed back
                conn.send(payload)
                progress["sent"] += 1
        except OSError:
            pass

    with WebSocketServer(handler) as server:
        ws = geventws.connect(server.url, max_queue=4, close_timeout=1)
        gevent.sleep(1.0)
        stalled_at = progress["sent"]
        assert stalled_at < 200  # kernel buffers hold a few MiB at most
        assert len(ws._messages) <= 4 + 1
        for _ in range(50):
            assert ws.recv(timeout=5) == b"x" * 65536
        gevent.sleep(0.2)
        assert progress["sent"] > stalled_at  # reading resumed
        ws.close()


def test_custom_socket_via_sock(echo_server):
    sock = socket.create_connection(("127.0.0.1", echo_server.port))
    import gevent.socket

    gsock = gevent.socket.socket(fileno=sock.detach())
    with geventws.connect("ws://anything.example/", sock=gsock) as ws:
        ws.send("via sock")
        assert ws.recv(timeout=5) == "via sock"


def test_through_an_http_connect_proxy(echo_server):
    seen = []

    def proxy(client, address):
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        seen.append(request.split(b"\r\n", 1)[0])
        host, port = request.split()[1].decode().rsplit(":", 1)
        upstream = gevent.socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                b.close()

        gevent.joinall([gevent.spawn(pipe, client, upstream), gevent.spawn(pipe, upstream, client)])

    import gevent.pool
    import gevent.socket

    server = gevent.server.StreamServer(("127.0.0.1", 0), proxy, spawn=gevent.pool.Pool())
    server.start()
    try:
        with geventws.connect(echo_server.url, proxy=f"http://127.0.0.1:{server.server_port}") as ws:
            ws.send("proxied")
            assert ws.recv(timeout=5) == "proxied"
    finally:
        server.stop(timeout=0.1)
    assert seen == [f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1".encode()]


def test_large_message_round_trip(echo_server):
    payload = bytes(range(256)) * 8192  # 2 MiB
    with geventws.connect(echo_server.url, max_size=None) as ws:
        ws.send(payload)
        assert ws.recv(timeout=10) == payload
