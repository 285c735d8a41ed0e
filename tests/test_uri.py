"""WebSocket URIs (RFC 6455 §3) for the blocking API."""

from __future__ import annotations

import pytest

from geventws.exceptions import InvalidURI
from geventws.uri import WebSocketURI, parse_uri


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/")),
        ("ws://localhost", WebSocketURI(False, "localhost", 80, "/")),
        ("wss://example.com:8443/a/b?x=1&y=2", WebSocketURI(True, "example.com", 8443, "/a/b?x=1&y=2")),
        ("ws://[::1]:9000/chat", WebSocketURI(False, "::1", 9000, "/chat")),
        ("ws://u:p%40ss@host/", WebSocketURI(False, "host", 80, "/", ("u", "p@ss"))),
        ("ws://host/sp ace", WebSocketURI(False, "host", 80, "/sp%20ace")),
        ("ws://bücher.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/")),
    ],
)
def test_valid(uri, expected):
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    ["http://host/", "https://host/", "ftp://host/", "ws://", "ws:///path", "ws://host/#frag",
     "ws://host/#", "ws://host:99999/", "ws://host:port/", "localhost:8000"],
)
def test_invalid(uri):
    with pytest.raises(InvalidURI):
        parse_uri(uri)


@pytest.mark.parametrize(
    "uri, host",
    [("ws://h/", "h"), ("ws://h:80/", "h"), ("ws://h:81/", "h:81"), ("wss://h:443/", "h"),
     ("wss://h:80/", "h:80"), ("ws://[::1]/", "[::1]"), ("ws://[::1]:1/", "[::1]:1")],
)
def test_host_header(uri, host):
    assert parse_uri(uri).host_header == host
