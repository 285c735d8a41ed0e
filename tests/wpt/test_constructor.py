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


def test_empty_protocol_string():
    """WPT constructor/004.html (its "empty string" case): "" is not a token."""
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


def test_new_websocket_with_no_args():
    """WPT constructor/001.html."""
    with pytest.raises(TypeError):
        WebSocket()  # type: ignore[call-arg]


@pytest.mark.parametrize("url", ["/test", "?test", "#test", "ws://h/#", "mailto:x@y.org"])
def test_constructor_invalid_url(url):
    """WPT constructor/002.html (its http:// case is now Create-http-urls: mapped to ws)."""
    syntax_error(url)


@pytest.mark.parametrize("code", [*range(0x00, 0x21), *range(0x7F, 0x100)])
def test_constructor_invalid_protocol_chars(code):
    """WPT constructor/004.html (controls, space and U+007F-U+00FF), constructor/007.html
    (U+0000): a protocol holding one of them is a SyntaxError."""
    syntax_error("ws://127.0.0.1:1/", "a" + chr(code) + "b")


def test_constructor_return_value():
    """WPT constructor/005.html."""
    ws = WebSocket("ws://127.0.0.1:1/")
    assert isinstance(ws, WebSocket)
    ws.close()


def test_converting_first_argument():
    """WPT constructor/006.html: JavaScript stringifies an <a> element; Python wants a str."""
    with pytest.raises(TypeError):
        WebSocket(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ws://example.invalid:80/", "ws://example.invalid:443/",
                                 "wss://example.invalid:80/", "wss://example.invalid:443/"])
def test_not_blocked_ports(url):
    """WPT constructor/008.html: these do not throw."""
    WebSocket(url).close()


def test_protocol(wpt, record):
    """WPT constructor/009.html, constructor/022.html (protocol array): the server's pick."""
    ws = WebSocket(wpt.url("/handshake_protocols"), ["foobar", "foobar2"])
    ws.onmessage = lambda e: ws.close()
    rec = record(ws).wait()
    assert ws.protocol == "foobar" and rec.types == ["open", "message", "close"]


def test_no_protocol_requested(wpt, record):
    """WPT constructor/010.html: nothing requested, nothing selected: opens, protocol ""."""
    ws = WebSocket(wpt.url("/handshake_protocols"))
    ws.onopen = lambda e: ws.close()
    assert record(ws).wait().types == ["open", "close"]
    assert ws.protocol == ""


@pytest.mark.parametrize("protocols", ["FOOBAR", None])
def test_protocol_mismatch(wpt, record, protocols):
    """WPT constructor/011.html, standard (a selected subprotocol not among those offered
    fails the connection): error, then close 1006; never open (011 predates this rule)."""
    rec = record(WebSocket(wpt.url("/wrong_protocol"), protocols)).wait()
    assert rec.types == ["error", "close"]
    assert rec.last("close").code == 1006


def test_no_protocol_in_response(wpt, record):
    """WPT constructor/012.html: a protocol requested, none selected: opens, protocol ""."""
    ws = WebSocket(wpt.url("/handshake_no_protocol"), "foobar")
    ws.onopen = lambda e: ws.close()
    assert record(ws).wait().types == ["open", "close"]
    assert ws.protocol == ""


def test_multiple_websocket_objects(wpt):
    """WPT constructor/013.html: 25 sockets, each: open, send its id, echo, close: 75 events."""
    events = []
    sockets = []
    for i in range(25):
        ws = WebSocket(wpt.url("/echo"))

        def onopen(e, ws=ws, i=i):
            events.append("open")
            ws.send(str(i))

        def onmessage(e, ws=ws, i=i):
            assert e.data == str(i)
            events.append("message")
            ws.close()

        ws.onopen, ws.onmessage = onopen, onmessage
        ws.onclose = lambda e: events.append("close")
        sockets.append(ws)
    assert all(ws.wait_closed(10) for ws in sockets)
    assert len(events) == 75 and events.count("close") == 25


def test_non_ascii_query(wpt):
    """WPT constructor/016.html: the query is UTF-8 percent-encoded."""
    ws = WebSocket(wpt.url("/echo-query") + "?åäö")
    got = []
    ws.onmessage = lambda e: (got.append(e.data), ws.close())
    assert ws.wait_closed(5)
    assert got == ["%C3%A5%C3%A4%C3%B6"]


@pytest.mark.parametrize("prefix", ["ws:", "ws:/", "wss:", "wss:/"])
def test_too_few_slashes(prefix):
    """WPT constructor/017.html: these do not throw (the special-scheme rules add them)."""
    ws = WebSocket(prefix + "127.0.0.1:1/echo")
    assert ws.url == prefix.rstrip(":/") + "://127.0.0.1:1/echo"
    ws.close()


def test_null_char_in_url(wpt):
    """WPT constructor/018.html: a NUL in the query is sent percent-encoded. (The WPT file puts
    it last, where the URL standard strips it as a trailing C0 control; here it is inside.)"""
    ws = WebSocket(wpt.url("/echo-query") + "?x\x00y")
    got = []
    ws.onmessage = lambda e: (got.append(e.data), ws.close())
    assert ws.wait_closed(5)
    assert got == ["x%00y"]


@pytest.mark.parametrize("upper", ["scheme", "host"])
def test_uppercase_scheme_and_host(wpt, record, upper):
    """WPT constructor/019.html (uppercase WS:), constructor/020.html (uppercase host)."""
    url = wpt.url("/echo")
    url = "WS" + url[2:] if upper == "scheme" else url.replace("127.0.0.1", "LOCALHOST")
    ws = WebSocket(url)
    ws.onopen = lambda e: ws.close()
    assert record(ws).wait().types == ["open", "close"]


def test_same_sub_protocol_twice():
    """WPT constructor/021.html."""
    syntax_error("ws://127.0.0.1:1/", ["foobar", "foobar"])


def test_serialize_establish_a_connection(wpt):
    """WPT constructor/014.html (RFC 6455 §4.1): four sockets to one host, whose handshake
    takes a while, open one after another, each once the one before it is open."""
    import time

    import gevent

    delay = 0.25
    wpt.max_handshaking = 0
    opened: list[tuple[int, float]] = []
    closed: list[int] = []
    sockets = []
    for i in range(4):
        ws = WebSocket(wpt.url(f"/handshake_sleep?delay={delay}"))
        ws.onopen = lambda event, i=i, ws=ws: (opened.append((i, time.monotonic())), ws.close())
        ws.onclose = lambda event, i=i: closed.append(i)
        ws.onerror = lambda event: pytest.fail("error event")
        sockets.append(ws)
    with gevent.Timeout(10):
        for ws in sockets:
            assert ws.wait_closed(10)
    assert sorted(i for i, _ in opened) == [0, 1, 2, 3] and sorted(closed) == [0, 1, 2, 3]
    times = [t for _, t in opened]
    assert all(later - earlier >= delay * 0.95 for earlier, later in zip(times, times[1:]))
    assert wpt.max_handshaking == 1
