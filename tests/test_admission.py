"""RFC 6455 §4.1 in the blocking API: ``one_connecting_per_host`` opens connections to one
host one at a time; off by default, as in websockets, websocket-client and aiohttp."""

from __future__ import annotations

import time

import gevent
import pytest

import geventws
from geventws import admission
from tests.rawserver import raw_server, read_request, upgrade


class SlowHandshakes:
    """A server whose 101 comes ``delay`` seconds late, counting handshakes in flight."""

    def __init__(self, delay: float, reject_first: bool = False) -> None:
        self.delay = delay
        self.reject_first = reject_first
        self.in_flight = 0
        self.most = 0
        self.served = 0

    def __call__(self, sock) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.served += 1
        first = self.served == 1
        try:
            gevent.sleep(self.delay)
            if first and self.reject_first:
                read_request(sock)
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upgrade(sock)
        finally:
            self.in_flight -= 1
        gevent.sleep(2)  # stay open; the client closes


def _open_three(url: str, **options) -> list:
    def open_one():
        try:
            return geventws.connect(url, ping_interval=None, close_timeout=0.2, **options)
        except geventws.InvalidStatus as exc:
            return exc

    greenlets = [gevent.spawn(open_one) for _ in range(3)]
    gevent.joinall(greenlets, timeout=10, raise_error=True)
    return [g.value for g in greenlets]


@pytest.mark.parametrize("serialized", [True, False])
def test_connections_to_one_host_open_one_at_a_time_only_when_asked(serialized):
    server = SlowHandshakes(0.2)
    with raw_server(server) as url:
        t0 = time.monotonic()
        results = _open_three(url, one_connecting_per_host=serialized)
        elapsed = time.monotonic() - t0
        for ws in results:
            ws._abort()
    assert all(isinstance(ws, geventws.ClientConnection) for ws in results)
    assert server.most == (1 if serialized else 3)
    if serialized:  # three handshakes of 0.2 s, one after another
        assert elapsed >= 0.55
    assert admission._gates == {}  # nothing left behind


def test_a_failed_opening_lets_the_next_connection_in():
    server = SlowHandshakes(0.1, reject_first=True)
    with raw_server(server) as url:
        results = _open_three(url, one_connecting_per_host=True)
        opened = [ws for ws in results if isinstance(ws, geventws.ClientConnection)]
        for ws in opened:
            ws._abort()
    assert sum(isinstance(r, geventws.InvalidStatus) for r in results) == 1
    assert len(opened) == 2
    assert server.most == 1
    assert admission._gates == {}


def test_a_cancelled_opening_lets_the_next_connection_in():
    """A WebSocket object closed while CONNECTING kills its connect(): the gate opens."""
    server = SlowHandshakes(0.3)
    with raw_server(server) as url:
        first = geventws.WebSocket(url)
        second = geventws.WebSocket(url)
        gevent.sleep(0.05)
        first.close()  # cancels the first handshake, while it is the one CONNECTING
        opened = []
        second.onopen = lambda event: opened.append(time.monotonic())
        t0 = time.monotonic()
        with gevent.Timeout(5):
            while not opened:
                gevent.sleep(0.01)
        second.close()
        assert second.wait_closed(5) and first.wait_closed(5)
    assert opened[0] - t0 < 0.45  # its own 0.3 s, not the first one's as well
    assert admission._gates == {}


def test_the_host_is_its_address():
    assert admission.host_key("127.0.0.1", 80) == ("127.0.0.1", 80)
    assert admission.host_key("::1", 443) == ("::1", 443)
    address, port = admission.host_key("localhost", 8080)
    assert port == 8080 and address in ("127.0.0.1", "::1")
    assert admission.host_key("Example.COM", 80, resolve=False) == ("example.com", 80)
    assert admission.host_key("no-such-host.invalid", 80) == ("no-such-host.invalid", 80)
