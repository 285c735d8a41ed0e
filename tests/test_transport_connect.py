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
def test_literal_family_is_cached_per_host(host, family):
    from geventws.transport import _literal_family

    assert _literal_family(host) == family
    hits = _literal_family.cache_info().hits
    assert _literal_family(host) == family
    assert _literal_family.cache_info().hits == hits + 1


def test_invalid_uri_raises_every_time_despite_the_parse_cache():
    for _ in range(2):
        with pytest.raises(geventws.InvalidURI):
            geventws.connect("http://example.com/")
