"""WPT ``websockets/Create-*`` files: the constructor's URL and protocol rules."""

from __future__ import annotations

import pytest

from geventws import DOMException, WebSocket


def syntax_error(*args):
    with pytest.raises(DOMException) as info:
        WebSocket(*args)
    assert info.value.name == "SyntaxError"


@pytest.mark.parametrize("url", [
    "ws://foo bar.com/",
    "wss://foo bar.com/",
    "ftp://127.0.0.1/",
    "mailto:example@example.org",
    "about:blank",
    "ws://127.0.0.1:8880/#",
    "ws://127.0.0.1:8880/#test",
    "#test",
])
def test_create_invalid_urls(url):
    """WPT Create-invalid-urls.any.js: each of its eight URLs throws SyntaxError."""
    syntax_error(url)


def test_create_secure_url_with_space():
    """WPT Create-Secure-url-with-space.any.js: a space in the host is a SyntaxError."""
    syntax_error("wss://web platform.test/")


@pytest.mark.parametrize("url", ["/echo", "echo", "//127.0.0.1/echo"])
def test_create_non_absolute_url(url):
    """WPT Create-non-absolute-url.any.js: with no document there is no base URL, so a
    relative URL cannot be resolved (Create-valid-url-relative.tentative is not expressible)."""
    syntax_error(url)


def test_create_wrong_scheme():
    """WPT Create-wrong-scheme.any.js: a scheme other than ws/wss/http/https."""
    syntax_error("gopher://127.0.0.1/")


def test_create_http_urls(wpt):
    """WPT Create-http-urls.any.js: http and https map to ws and wss in ``url``."""
    ws = WebSocket(wpt.url("/").replace("ws://", "http://"))
    assert ws.url == wpt.url("/")
    ws.close()
    ws2 = WebSocket("https://127.0.0.1:1/")
    assert ws2.url == "wss://127.0.0.1:1/"
    ws2.close()
    assert ws.wait_closed(5) and ws2.wait_closed(5)


def test_create_valid_url(wpt, record):
    """WPT Create-valid-url.any.js / Create-Secure-valid-url.any.js: opens; readyState OPEN."""
    ws = WebSocket(wpt.url("/echo"))
    states = []
    ws.onopen = lambda e: (states.append(ws.readyState), ws.close())
    rec = record(ws).wait()
    assert states == [WebSocket.OPEN]
    assert rec.types == ["open", "close"]


def test_create_valid_url_protocol(wpt, record):
    """WPT Create-valid-url-protocol.any.js: a protocol string; the server selects it."""
    ws = WebSocket(wpt.url("/echo"), "echo")
    ws.onopen = lambda e: ws.close()
    record(ws).wait()
    assert ws.protocol == "echo"


def test_create_valid_url_array_protocols(wpt, record):
    """WPT Create-valid-url-array-protocols.any.js: a list of protocols opens."""
    ws = WebSocket(wpt.url("/echo"), ["echo", "chat"])
    ws.onopen = lambda e: ws.close()
    assert record(ws).wait().types == ["open", "close"]
    assert ws.protocol == "echo"


def test_create_secure_valid_url_protocol_set_correctly(wpt, record):
    """WPT Create-Secure-valid-url-protocol-setCorrectly.any.js: ``protocol`` after open."""
    ws = WebSocket(wpt.url("/handshake_protocols"), ["chat", "echo"])
    messages = []
    ws.onmessage = lambda e: (messages.append(e.data), ws.close())
    record(ws).wait()
    assert ws.protocol == "chat"
    assert messages == ["chat, echo"]  # the header the server saw, in our order


def test_create_valid_url_protocol_empty():
    """WPT Create-valid-url-protocol-empty.any.js: the empty string is not a token."""
    syntax_error("ws://127.0.0.1:1/", "")


def test_create_asciisep_protocol_string():
    """WPT Create-asciiSep-protocol-string.any.js: a separator character in a protocol."""
    syntax_error("ws://127.0.0.1:1/", "/echo")


def test_create_nonascii_protocol_string():
    """WPT Create-nonAscii-protocol-string.any.js."""
    syntax_error("ws://127.0.0.1:1/", "\u0080echo")


def test_create_protocol_with_space():
    """WPT Create-protocol-with-space.any.js."""
    syntax_error("ws://127.0.0.1:1/", "ec ho")


def test_create_protocols_repeated():
    """WPT Create-protocols-repeated.any.js."""
    syntax_error("ws://127.0.0.1:1/", ["echo", "echo"])


def test_create_protocols_repeated_case_insensitive():
    """WPT Create-protocols-repeated-case-insensitive.any.js."""
    syntax_error("ws://127.0.0.1:1/", ["echo", "eCho"])


@pytest.mark.parametrize("url, expected", [
    ("ws://127.0.0.1:80/", "ws://127.0.0.1/"),
    ("wss://127.0.0.1:443/", "wss://127.0.0.1/"),
    ("WS://LocalHost:8080", "ws://localhost:8080/"),
    ("ws://127.0.0.1:8080/a b?c d", "ws://127.0.0.1:8080/a%20b?c%20d"),
])
def test_create_verify_url_set_default_port(url, expected):
    """WPT Create-verify-url-set-default-port.htm, Create-Secure-verify-url-set-default-port.htm,
    Create-verify-url-set-non-default-port.any.js: ``url`` is the serialized URL."""
    ws = WebSocket(url)
    ws.close()
    assert ws.url == expected
    assert ws.wait_closed(5)


def test_url_with_space_in_query_reaches_server_encoded(wpt):
    """WPT interfaces/WebSocket/url (resolved URL): what the server receives is ``url``'s query."""
    ws = WebSocket(wpt.url("/echo-query") + "?foo bar")
    got = []
    ws.onmessage = lambda e: (got.append(e.data), ws.close())
    assert ws.wait_closed(5)
    assert got == ["foo%20bar"]


def test_unknown_option_is_a_type_error_at_once():
    """Python mapping: options are connect()'s keywords, checked by the constructor."""
    with pytest.raises(TypeError):
        WebSocket("ws://127.0.0.1:1/", bogus=1)


def test_basic_auth(wpt):
    """WPT basic-auth.any.js (newer WPT; handlers/basic_auth_wsh.py): credentials in the URL
    become an Authorization header."""
    ws = WebSocket(wpt.url("/basic_auth").replace("ws://", "ws://foo:bar@"))
    got = []
    ws.onmessage = lambda e: (got.append(e.data), ws.close())
    assert ws.wait_closed(5)
    assert got == ["Basic Zm9vOmJhcg=="]
