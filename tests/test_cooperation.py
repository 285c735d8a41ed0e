"""geventws never stalls the gevent hub, with or without monkey-patching."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time

import gevent

import geventws
from tests.rawserver import accept_for, read_request


def slow_server(delay: float) -> tuple[socket.socket, int]:
    """A plain-thread server (outside the hub) that answers the upgrade after ``delay``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = read_request(conn)
            time.sleep(delay)
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                          f"{accept_for(request)}\r\n\r\n").encode())
            conn.recv(100)  # our close frame
            conn.sendall(b"\x88\x02\x03\xe8")

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_hub_keeps_running_while_connect_waits():
    """Not monkey-patched: while connect() waits 2 s for the 101 (and resolves
    ``localhost``), a ticker greenlet is never held up for more than 0.1 s."""
    listener, port = slow_server(2.0)
    gaps: list[float] = []
    stop = False

    def ticker() -> None:
        last = time.perf_counter()
        while not stop:
            gevent.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    t = gevent.spawn(ticker)
    gevent.sleep(0.05)
    t0 = time.perf_counter()
    ws = geventws.connect(f"ws://localhost:{port}/", open_timeout=10, close_timeout=2)
    elapsed = time.perf_counter() - t0
    ws.close()
    stop = True
    t.join()
    listener.close()
    assert elapsed >= 2.0
    assert len(gaps) > 100  # the ticker really ran during the wait
    assert max(gaps) < 0.1, f"hub stalled for {max(gaps):.3f} s"


def test_works_under_monkey_patch_all(tmp_path):
    script = textwrap.dedent(
        """
        from gevent import monkey; monkey.patch_all()
        import geventws, gevent
        from geventws.server import EchoServer

        with EchoServer() as server:
            def client(i):
                with geventws.connect(server.url) as ws:
                    for j in range(20):
                        ws.send(f"{i}-{j}")
                        assert ws.recv(timeout=5) == f"{i}-{j}"
                return i
            jobs = [gevent.spawn(client, i) for i in range(50)]
            gevent.joinall(jobs, timeout=30, raise_error=True)
            print(sum(j.value for j in jobs))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(sum(range(50)))


def test_many_concurrent_connections(echo_server):
    def client(i: int) -> int:
        with geventws.connect(echo_server.url, ping_interval=None) as ws:
            for j in range(5):
                ws.send(f"{i}:{j}")
                assert ws.recv(timeout=10) == f"{i}:{j}"
        return i

    jobs = [gevent.spawn(client, i) for i in range(300)]
    gevent.joinall(jobs, timeout=60, raise_error=True)
    assert sorted(j.value for j in jobs) == list(range(300))
