"""Opening TCP: an IP literal is connected to without asking the resolver."""

from __future__ import annotations

import gevent.socket
import pytest

import geventws


def test_ip_literal_skips_name_resolution(echo_server, monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("getaddrinfo called for an IP literal")

    monkeypatch.setattr(gevent.socket, "getaddrinfo", no_dns)
    port = echo_server.url.rstrip("/").rsplit(":", 1)[1]
    with geventws.connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"


def test_refused_ip_literal_raises_oserror():
    with gevent.socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        geventws.connect(f"ws://127.0.0.1:{port}/", open_timeout=5)


@pytest.mark.parametrize(
    "host, family",
    [
        ("127.0.0.1", gevent.socket.AF_INET),
        ("::1", gevent.socket.AF_INET6),
        ("fe80::1%lo", None),  # scoped: getaddrinfo fills in the scope
        ("localhost", None),
        ("256.0.0.1", None),
    ],
)
def testliteral_family_is_cached_per_host(host, family):
    from geventws.transport import literal_family

    assert literal_family(host) == family
    hits = literal_family.cache_info().hits
    assert literal_family(host) == family
    assert literal_family.cache_info().hits == hits + 1


def test_invalid_uri_raises_every_time_despite_the_parse_cache():
    for _ in range(2):
        with pytest.raises(geventws.InvalidURI):
            geventws.connect("http://example.com/")


def test_connect_made_at_once_does_not_wait_in_the_hub(echo_server, monkeypatch):
    """On loopback the TCP handshake is over when connect() returns "in progress":
    asking again finds it made, so gevent's waiting connect() is never called."""
    from geventws import transport

    def waiting_connect(self, address):
        raise AssertionError("gevent's connect() was used")

    monkeypatch.setattr(gevent.socket.socket, "connect", waiting_connect)
    sock = gevent.socket.socket()
    try:
        transport._connect(sock, ("127.0.0.1", int(echo_server.url.rstrip("/").rsplit(":", 1)[1])))
        assert sock.getpeername()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_connect_still_in_progress_waits_through_gevent(monkeypatch):
    """A connection not made when asked twice is left to gevent's connect(), which waits
    in the hub; an error answer is raised as the OSError it names."""
    import errno

    from geventws import transport

    class OSSocket:
        def __init__(self, answers):
            self.answers = list(answers)

        def connect_ex(self, address):
            return self.answers.pop(0)

    waited = []

    class Socket:
        def connect(self, address):
            waited.append(address)

    monkeypatch.setattr(transport, "os_socket",
                        lambda sock: OSSocket([errno.EINPROGRESS, errno.EALREADY]))
    transport._connect(Socket(), ("192.0.2.1", 80))
    assert waited == [("192.0.2.1", 80)]
    monkeypatch.setattr(transport, "os_socket",
                        lambda sock: OSSocket([errno.EINPROGRESS, errno.ECONNREFUSED]))
    with pytest.raises(ConnectionRefusedError):
        transport._connect(Socket(), ("192.0.2.1", 80))
    assert waited == [("192.0.2.1", 80)]
